//! Access control as configured: the `[auth]` section (bearer tokens, each with one [`Role`]), the
//! `role token` line format of token files and variables, and the checks every token source must
//! pass. Reading the file or the variable is the server's job; everything here is pure.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Tokens shorter than this are refused: they could be guessed.
pub const MIN_TOKEN_LEN: usize = 16;

/// What a token may do. `admin` ⊇ `operate` ⊇ `read` and `ingest`; `read` and `ingest` are disjoint,
/// so a leaked ingest token cannot read results and a dashboard token cannot write events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Dashboard, reports, status, evidence, every GET endpoint, `/metrics`.
    Read,
    /// Assignments, outcome events, interleaving.
    Ingest,
    /// Rollout and experiment commands, the kill switch; also everything `read` and `ingest` may.
    Operate,
    /// Config reload; also everything `operate` may.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Read, Role::Ingest, Role::Operate, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Ingest => "ingest",
            Role::Operate => "operate",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// Whether a token of this role may call an endpoint that requires `needed`.
    pub fn grants(self, needed: Role) -> bool {
        match self {
            Role::Admin => true,
            Role::Operate => needed != Role::Admin,
            Role::Read | Role::Ingest => self == needed,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `[auth]` section. No token from any source means auth is off (loopback only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    #[serde(default)]
    pub tokens: Vec<TokenEntry>,
    /// A file of `role token` lines; relative paths are relative to the config file.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// An environment variable holding `role token` lines.
    #[serde(default)]
    pub token_env: Option<String>,
}

impl AuthConfig {
    /// Whether any token source is configured (its tokens may still be missing or invalid).
    pub fn has_sources(&self) -> bool {
        !self.tokens.is_empty() || self.token_file.is_some() || self.token_env.is_some()
    }
}

/// One bearer token and its role.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    pub token: String,
    pub role: Role,
}

// Secrets stay out of logs and panic messages.
impl fmt::Debug for TokenEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenEntry")
            .field("token", &"<redacted>")
            .field("role", &self.role)
            .finish()
    }
}

/// A token with where it came from, e.g. `auth.tokens[2]` or `tokens.txt:4`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcedToken {
    pub source: String,
    pub entry: TokenEntry,
}

/// A problem with one token source; never quotes a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct TokenError {
    /// `auth.tokens[0]`, `FILE:LINE` or `$VAR:LINE`.
    pub source_name: String,
    pub message: String,
}

/// Reads `role token` lines; blank lines and `#` comments are skipped. `origin` names the source
/// in errors (`FILE` or `$VAR`), each followed by its line number.
pub fn parse_token_lines(text: &str, origin: &str) -> Result<Vec<SourcedToken>, Vec<TokenError>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let source = format!("{origin}:{}", i + 1);
        let mut words = line.split_whitespace();
        let (Some(role), Some(token), None) = (words.next(), words.next(), words.next()) else {
            errors.push(TokenError {
                source_name: source,
                message: "expected `ROLE TOKEN` (two words), e.g. `read 3f9c...`".into(),
            });
            continue;
        };
        match Role::parse(role) {
            Some(role) => out.push(SourcedToken {
                source,
                entry: TokenEntry {
                    token: token.to_string(),
                    role,
                },
            }),
            // The word is not quoted: a line written `TOKEN ROLE` would leak the token.
            None => errors.push(TokenError {
                source_name: source,
                message:
                    "unknown role; expected read, ingest, operate or admin first, then the token"
                        .into(),
            }),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// The checks every token must pass, across all sources at once: long enough, no whitespace,
/// and no token given twice (a duplicate could carry two different roles).
pub fn check_tokens(tokens: &[SourcedToken]) -> Vec<TokenError> {
    let mut errors = Vec::new();
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for t in tokens {
        let token = t.entry.token.as_str();
        if token.chars().count() < MIN_TOKEN_LEN {
            errors.push(TokenError {
                source_name: t.source.clone(),
                message: format!(
                    "token is {} characters long; at least {MIN_TOKEN_LEN} are required",
                    token.chars().count()
                ),
            });
        } else if token.chars().any(char::is_whitespace) {
            errors.push(TokenError {
                source_name: t.source.clone(),
                message: "token must not contain whitespace".into(),
            });
        }
        if let Some(first) = seen.insert(token, &t.source) {
            errors.push(TokenError {
                source_name: t.source.clone(),
                message: format!("the same token is already given at {first}"),
            });
        }
    }
    errors
}

/// The inline tokens of `[auth]`, named by their field path.
pub fn inline_tokens(auth: &AuthConfig) -> Vec<SourcedToken> {
    auth.tokens
        .iter()
        .enumerate()
        .map(|(i, t)| SourcedToken {
            source: format!("auth.tokens[{i}]"),
            entry: t.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: &str = "0123456789abcdef";

    #[test]
    fn roles_form_the_documented_hierarchy() {
        let granted =
            |r: Role| -> Vec<Role> { Role::ALL.into_iter().filter(|n| r.grants(*n)).collect() };
        assert_eq!(granted(Role::Read), vec![Role::Read]);
        assert_eq!(granted(Role::Ingest), vec![Role::Ingest]);
        assert_eq!(
            granted(Role::Operate),
            vec![Role::Read, Role::Ingest, Role::Operate]
        );
        assert_eq!(granted(Role::Admin), Role::ALL.to_vec());
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn token_lines_skip_comments_and_name_bad_lines() {
        let text = format!("# ops tokens\n\nread {LONG}\n  admin   {LONG}x  \n");
        let got = parse_token_lines(&text, "t.txt").unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].source, "t.txt:3");
        assert_eq!(got[0].entry.role, Role::Read);
        assert_eq!(got[1].source, "t.txt:4");
        assert_eq!(got[1].entry.token, format!("{LONG}x"));

        let errs = parse_token_lines(&format!("root {LONG}\nread\nread a b\n"), "$T").unwrap_err();
        let names: Vec<&str> = errs.iter().map(|e| e.source_name.as_str()).collect();
        assert_eq!(names, ["$T:1", "$T:2", "$T:3"]);
        assert!(errs[0].message.starts_with("unknown role;"), "{}", errs[0]);
        let swapped = parse_token_lines(&format!("{LONG} read"), "f").unwrap_err();
        assert!(!swapped[0].to_string().contains(LONG), "{}", swapped[0]);
    }

    #[test]
    fn short_and_duplicate_tokens_are_refused_without_quoting_them() {
        let t = |source: &str, token: &str| SourcedToken {
            source: source.into(),
            entry: TokenEntry {
                token: token.into(),
                role: Role::Read,
            },
        };
        let errs = check_tokens(&[t("a", "short-secret"), t("b", LONG), t("c", LONG)]);
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert_eq!(
            errs[0].to_string(),
            "a: token is 12 characters long; at least 16 are required"
        );
        assert_eq!(
            errs[1].to_string(),
            "c: the same token is already given at b"
        );
        assert!(errs.iter().all(|e| !e.message.contains("short-secret")));
        assert!(check_tokens(&[t("a", LONG)]).is_empty());
        assert!(!format!("{:?}", t("a", LONG).entry).contains(LONG));
    }
}
