//! Access control at the edge: the table of which role each route needs ([`POLICY`]), the token
//! set read from `[auth]` and its file and variable ([`Tokens`]), and the middleware that checks
//! `Authorization: Bearer` headers against it. With no token configured every route is open and
//! the server only listens on loopback (see `run.rs`).

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rampart_core::config::{
    check_tokens, inline_tokens, parse_token_lines, AuthConfig, Role, SecretSource, SourcedToken,
    TokenEntry, TokenError,
};

use crate::app::Shared;
use crate::error::ApiError;
use crate::secret::read_secret;

/// What a route asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token needed, even with auth on (probes, the dashboard page and its files).
    Open,
    /// A token whose role grants this one.
    Needs(Role),
}

/// Every route the router serves, with its method and the access it needs. A test checks that this
/// table, the router and `openapi.json` list the same routes.
pub const POLICY: &[(&str, &str, Access)] = &[
    ("GET", "/healthz", Access::Open),
    ("GET", "/readyz", Access::Open),
    ("GET", "/metrics", Access::Needs(Role::Read)),
    ("GET", "/openapi.json", Access::Needs(Role::Read)),
    ("POST", "/v1/assign", Access::Needs(Role::Ingest)),
    ("POST", "/v1/assign/batch", Access::Needs(Role::Ingest)),
    ("POST", "/v1/events", Access::Needs(Role::Ingest)),
    ("POST", "/v1/interleave", Access::Needs(Role::Ingest)),
    ("POST", "/v1/predict/{model}", Access::Needs(Role::Ingest)),
    (
        "POST",
        "/v1/predict/{model}/{*path}",
        Access::Needs(Role::Ingest),
    ),
    ("GET", "/v1/status", Access::Needs(Role::Read)),
    ("GET", "/v1/evidence/{entity}", Access::Needs(Role::Read)),
    ("GET", "/v1/decisions", Access::Needs(Role::Read)),
    ("GET", "/v1/rollouts", Access::Needs(Role::Read)),
    ("GET", "/v1/rollouts/{name}", Access::Needs(Role::Read)),
    (
        "GET",
        "/v1/rollouts/{name}/verdict",
        Access::Needs(Role::Read),
    ),
    (
        "POST",
        "/v1/rollouts/{name}/{command}",
        Access::Needs(Role::Operate),
    ),
    ("POST", "/v1/kill", Access::Needs(Role::Operate)),
    ("GET", "/v1/experiments", Access::Needs(Role::Read)),
    ("GET", "/v1/experiments/{name}", Access::Needs(Role::Read)),
    (
        "POST",
        "/v1/experiments/{name}/{command}",
        Access::Needs(Role::Operate),
    ),
    ("GET", "/v1/holdouts", Access::Needs(Role::Read)),
    ("GET", "/v1/holdouts/{name}", Access::Needs(Role::Read)),
    ("POST", "/v1/config/reload", Access::Needs(Role::Admin)),
    // OpenFeature remote evaluation logs exposures, like /v1/assign.
    (
        "POST",
        "/ofrep/v1/evaluate/flags/{key}",
        Access::Needs(Role::Ingest),
    ),
    (
        "POST",
        "/ofrep/v1/evaluate/flags",
        Access::Needs(Role::Ingest),
    ),
    ("GET", "/v1/series/{entity}", Access::Needs(Role::Read)),
    // The dashboard's page and files hold no data; its API calls carry the visitor's token.
    ("GET", "/", Access::Open),
    ("GET", "/assets/{file}", Access::Open),
    ("GET", "/v1/proxy/{model}", Access::Needs(Role::Read)),
];

/// The access a route needs; a route missing from [`POLICY`] needs `admin`, so a new route is
/// never left open by mistake.
pub fn access_of(method: &Method, path: &str) -> Access {
    POLICY
        .iter()
        .find(|(m, p, _)| *p == path && *m == method.as_str())
        .map_or(Access::Needs(Role::Admin), |(_, _, a)| *a)
}

/// The configured tokens; empty means auth is off.
#[derive(Default)]
pub struct Tokens {
    entries: Vec<TokenEntry>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokens({} configured)", self.entries.len())
    }
}

impl Tokens {
    pub fn new(entries: Vec<TokenEntry>) -> Tokens {
        Tokens { entries }
    }

    pub fn is_on(&self) -> bool {
        !self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The role of `presented`, comparing it with every token in constant time: the work does not
    /// depend on which token matches or where the first differing byte is.
    pub fn role_of(&self, presented: &[u8]) -> Option<Role> {
        let mut found: Option<Role> = None;
        for e in &self.entries {
            let equal = constant_time_eq(presented, e.token.as_bytes());
            // Duplicates are refused at load, so at most one entry matches.
            found = if equal { Some(e.role) } else { found };
        }
        found
    }
}

/// Equality without an early exit: every byte of the longer input is visited.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u64;
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= u64::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

/// Gathers the tokens of `[auth]`: inline ones, the token file (relative to `config_dir`) and
/// the token variable, then checks them together. A configured file or variable that cannot be
/// read is an error, never a silently empty token set.
pub fn load_tokens(
    auth: &AuthConfig,
    config_dir: Option<&Path>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Tokens, Vec<TokenError>> {
    let mut all: Vec<SourcedToken> = inline_tokens(auth);
    let mut errors = Vec::new();
    if let Some(file) = &auth.token_file {
        // Lines are named by the file as found, e.g. `/etc/rampart/tokens.txt:4`.
        let name = match config_dir {
            Some(dir) if file.is_relative() => dir.join(file),
            _ => file.clone(),
        };
        match read_secret(SecretSource::File(file), config_dir, &env) {
            Ok(text) => match parse_token_lines(&text, &name.display().to_string()) {
                Ok(t) => all.extend(t),
                Err(e) => errors.extend(e),
            },
            Err(message) => errors.push(TokenError {
                source_name: "auth.token_file".into(),
                message,
            }),
        }
    }
    if let Some(var) = &auth.token_env {
        match read_secret(SecretSource::Env(var), config_dir, &env) {
            Ok(text) => match parse_token_lines(&text, &format!("${var}")) {
                Ok(t) => all.extend(t),
                Err(e) => errors.extend(e),
            },
            Err(message) => errors.push(TokenError {
                source_name: "auth.token_env".into(),
                message,
            }),
        }
    }
    errors.extend(check_tokens(&all));
    if auth.has_sources() && all.is_empty() && errors.is_empty() {
        errors.push(TokenError {
            source_name: "auth".into(),
            message: "token sources are configured but hold no token".into(),
        });
    }
    if errors.is_empty() {
        Ok(Tokens::new(all.into_iter().map(|t| t.entry).collect()))
    } else {
        Err(errors)
    }
}

/// Whether `listen` (an `IP:port`) only accepts connections from this machine.
pub fn is_loopback(listen: &str) -> bool {
    listen
        .parse::<SocketAddr>()
        .map(|a| a.ip())
        .or_else(|_| listen.parse::<IpAddr>())
        .is_ok_and(|ip| ip.is_loopback())
}

/// Who is calling, for handlers that check more than the route (the `force` field of assign).
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    /// The token's role; none when auth is off.
    pub role: Option<Role>,
    pub auth_on: bool,
}

impl Caller {
    /// Forcing a variant is QA work: `operate` or `admin` when auth is on.
    pub fn may_force(&self) -> bool {
        !self.auth_on || self.role.is_some_and(|r| r.grants(Role::Operate))
    }
}

/// Middleware for matched routes: 401 without a known bearer token, 403 when its role does not
/// grant the route's; otherwise passes the request on with its [`Caller`].
pub async fn require(
    State(shared): State<Arc<Shared>>,
    matched: Option<MatchedPath>,
    mut req: Request,
    next: Next,
) -> Response {
    let tokens = shared.tokens.load();
    let access = match &matched {
        Some(p) => access_of(req.method(), p.as_str()),
        None => Access::Needs(Role::Admin),
    };
    let mut caller = Caller {
        role: None,
        auth_on: tokens.is_on(),
    };
    if let (true, Access::Needs(needed)) = (tokens.is_on(), access) {
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer);
        let Some(presented) = presented else {
            return unauthorized(None, "this endpoint needs `Authorization: Bearer <token>`");
        };
        let Some(role) = tokens.role_of(presented.as_bytes()) else {
            return unauthorized(
                Some("invalid_token"),
                "the bearer token is not known to this server",
            );
        };
        if !role.grants(needed) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("a token with role {role} may not call this endpoint; it needs the {needed} role"),
            )
            .into_response();
        }
        caller.role = Some(role);
    }
    drop(tokens);
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// The token of an `Authorization: Bearer <token>` header (the scheme is case-insensitive).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A 401 with a `WWW-Authenticate` challenge; `error` is the RFC 6750 error code, if any.
fn unauthorized(error: Option<&str>, message: &str) -> Response {
    let mut resp = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message).into_response();
    let challenge = match error {
        None => "Bearer realm=\"rampart\"".to_string(),
        Some(e) => format!("Bearer realm=\"rampart\", error=\"{e}\""),
    };
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(token: &str, role: Role) -> TokenEntry {
        TokenEntry {
            token: token.into(),
            role,
        }
    }

    #[test]
    fn constant_time_eq_is_plain_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn role_of_finds_the_one_matching_token() {
        let t = Tokens::new(vec![
            entry("read-token-0123456789", Role::Read),
            entry("admin-token-0123456789", Role::Admin),
        ]);
        assert_eq!(t.role_of(b"admin-token-0123456789"), Some(Role::Admin));
        assert_eq!(t.role_of(b"read-token-0123456789"), Some(Role::Read));
        assert_eq!(t.role_of(b"read-token-012345678"), None);
        assert_eq!(t.role_of(b""), None);
        assert!(!format!("{t:?}").contains("read-token"));
    }

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer   abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearer"), None);
    }

    #[test]
    fn loopback_addresses() {
        assert!(is_loopback("127.0.0.1:8080"));
        assert!(is_loopback("127.1.2.3:0"));
        assert!(is_loopback("[::1]:8080"));
        assert!(!is_loopback("0.0.0.0:8080"));
        assert!(!is_loopback("[::]:8080"));
        assert!(!is_loopback("10.0.0.5:80"));
        assert!(!is_loopback("localhost:80"));
    }

    #[test]
    fn unknown_routes_need_admin() {
        assert_eq!(
            access_of(&Method::GET, "/v1/status"),
            Access::Needs(Role::Read)
        );
        assert_eq!(access_of(&Method::GET, "/healthz"), Access::Open);
        assert_eq!(
            access_of(&Method::DELETE, "/v1/status"),
            Access::Needs(Role::Admin)
        );
        assert_eq!(
            access_of(&Method::GET, "/v1/not-yet-listed"),
            Access::Needs(Role::Admin)
        );
    }

    #[test]
    fn token_sources_are_gathered_and_checked_together() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("tokens.txt"),
            "# team tokens\noperate file-token-0123456789\n",
        )
        .unwrap();
        let auth = AuthConfig {
            tokens: vec![entry("inline-token-0123456789", Role::Read)],
            token_file: Some("tokens.txt".into()),
            token_env: Some("RAMPART_TEST_TOKENS".into()),
        };
        let env = |v: &str| {
            (v == "RAMPART_TEST_TOKENS").then(|| "ingest env-token-0123456789".to_string())
        };
        let t = load_tokens(&auth, Some(dir.path()), env).unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t.role_of(b"file-token-0123456789"), Some(Role::Operate));
        assert_eq!(t.role_of(b"env-token-0123456789"), Some(Role::Ingest));

        // A duplicate across sources, a missing file and a missing variable are all reported.
        let dup = |_: &str| Some("admin inline-token-0123456789".to_string());
        let errs = load_tokens(&auth, Some(dir.path()), dup).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(
            errs[0].to_string(),
            "$RAMPART_TEST_TOKENS:1: the same token is already given at auth.tokens[0]"
        );
        let missing = AuthConfig {
            token_file: Some("nope.txt".into()),
            token_env: Some("UNSET".into()),
            ..AuthConfig::default()
        };
        let errs = load_tokens(&missing, Some(dir.path()), |_| None).unwrap_err();
        let names: Vec<&str> = errs.iter().map(|e| e.source_name.as_str()).collect();
        assert_eq!(names, ["auth.token_file", "auth.token_env"]);
        assert!(errs[0].message.contains("nope.txt"), "{}", errs[0]);
        assert!(!load_tokens(&AuthConfig::default(), None, |_| None)
            .unwrap()
            .is_on());
    }
}
