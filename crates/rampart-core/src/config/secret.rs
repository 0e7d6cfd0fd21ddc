//! Secrets in the config: bearer tokens and webhook URLs (a Slack webhook URL is its own
//! credential) can be given inline, in an environment variable (`*_env`) or in a file (`*_file`,
//! relative to the config file). [`SecretSource`] names where one comes from and the checks of
//! those fields are written once here; reading the variable or the file is the server's job.
//!
//! Every config the server applies is stored as a config version; [`redact`] gives the text that
//! is stored: the file as written, with every inline secret replaced by [`REDACTED`].

use std::path::Path;

use super::load::{strings_of, Format};
use super::Config;

/// What an inline secret is replaced with in stored config text.
pub const REDACTED: &str = "<redacted>";

/// Where a secret comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretSource<'a> {
    /// Written in the config text itself (and so redacted from stored versions).
    Inline(&'a str),
    /// The value of this environment variable.
    Env(&'a str),
    /// The contents of this file; relative paths are relative to the config file.
    File(&'a Path),
}

/// What is wrong with the name given in a `*_env` field, if anything.
pub(super) fn env_name_problem(var: &str) -> Option<String> {
    (var.is_empty() || var.contains('=') || var.contains('\0'))
        .then(|| format!("expected the name of an environment variable, found {var:?}"))
}

/// What is wrong with the path given in a `*_file` field, if anything.
pub(super) fn file_name_problem(path: &Path) -> Option<String> {
    path.as_os_str()
        .is_empty()
        .then(|| "must not be empty; give the path of the file, or leave the field out".to_string())
}

/// The inline secrets of `config`: `[auth]` tokens, webhook URLs given in `url`, and the user
/// and password of any URL that carries one (`https://user:pass@host`).
pub fn inline_secrets(config: &Config) -> Vec<&str> {
    let mut out: Vec<&str> = config
        .auth
        .tokens
        .iter()
        .map(|t| t.token.as_str())
        .collect();
    out.extend(config.webhooks.iter().filter_map(|w| w.url.as_deref()));
    let urls = config
        .models
        .iter()
        .flat_map(|m| m.variants.iter().filter_map(|v| v.endpoint.as_deref()))
        .chain(config.prometheus.as_ref().map(|p| p.url.as_str()));
    out.extend(urls.filter_map(userinfo));
    out.retain(|s| !s.is_empty());
    // Longest first, so a secret that contains another is replaced whole.
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

/// `url` as an error message may quote it: with its `user:password` redacted.
pub(super) fn shown_url(url: &str) -> String {
    match userinfo(url) {
        Some(info) if !info.is_empty() => url.replacen(info, REDACTED, 1),
        _ => url.to_string(),
    }
}

/// `url` with the password of its `user:password@` (or a `password=` setting of a key=value
/// connection string) replaced by `***`, the user kept: how a URL that may hold a password is
/// shown in messages.
pub fn redact_password(url: &str) -> String {
    if url.contains("://") {
        return match userinfo(url).and_then(|info| info.split_once(':')) {
            Some((user, password)) => {
                url.replacen(&format!("{user}:{password}@"), &format!("{user}:***@"), 1)
            }
            None => url.to_string(),
        };
    }
    url.split_whitespace()
        .map(|kv| match kv.starts_with("password=") {
            true => "password=***",
            false => kv,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `url` holds a password, in its userinfo or as a `password=` setting.
pub fn has_password(url: &str) -> bool {
    userinfo(url).is_some_and(|u| u.contains(':')) || url.contains("password=")
}

/// The `user:password` of `scheme://user:password@host/...`.
fn userinfo(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    authority.rsplit_once('@').map(|(info, _)| info)
}

/// The config text to store for `config`: `text` with every inline secret replaced by
/// [`REDACTED`], comments and layout kept. When a secret is still there in another spelling (an
/// escape sequence, a YAML block scalar), the text cannot be trusted: the stored form is then the
/// config itself as JSON, with the secrets replaced.
pub fn redact(text: &str, config: &Config) -> String {
    let secrets = inline_secrets(config);
    if secrets.is_empty() {
        return text.to_string();
    }
    let mut out = text.to_string();
    for s in &secrets {
        out = out.replace(s, REDACTED);
    }
    // The text is TOML or YAML; whichever reads it must find no secret, and one must read it.
    let readings: Vec<Vec<String>> = [Format::Toml, Format::Yaml]
        .into_iter()
        .filter_map(|f| strings_of(&out, f))
        .collect();
    let leaked = readings.is_empty()
        || readings
            .iter()
            .flatten()
            .any(|v| secrets.iter().any(|s| v.contains(s)));
    if !leaked {
        return out;
    }
    let mut safe = config.clone();
    for t in &mut safe.auth.tokens {
        t.token = REDACTED.to_string();
    }
    for w in &mut safe.webhooks {
        if w.url.is_some() {
            w.url = Some(REDACTED.to_string());
        }
    }
    let mut json = serde_json::to_string_pretty(&safe).unwrap_or_default();
    for s in &secrets {
        json = json.replace(s, REDACTED);
    }
    json
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;

    const SLACK: &str = "https://hooks.slack.com/services/T0/B0/abcdefgh";
    const TOKEN: &str = "admin-token-0123456789";

    fn config(text: &str, format: Format) -> Config {
        load_str(text, format, "c").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn inline_secrets_are_replaced_and_everything_else_is_kept() {
        let text = format!(
            "# alerts go to {SLACK}\n[auth]\ntokens = [{{ token = \"{TOKEN}\", role = \"admin\" }}]\n\n[prometheus]\nurl = \"https://rampart:pa55@prom.internal:9090\"\n\n[[webhooks]]\nurl = '{SLACK}'\nformat = \"slack\"\n\n[[webhooks]]\nurl_env = \"HOOK_URL\"\n"
        );
        let c = config(&text, Format::Toml);
        let stored = redact(&text, &c);
        assert_eq!(
            stored,
            "# alerts go to <redacted>\n[auth]\ntokens = [{ token = \"<redacted>\", role = \"admin\" }]\n\n[prometheus]\nurl = \"https://<redacted>@prom.internal:9090\"\n\n[[webhooks]]\nurl = '<redacted>'\nformat = \"slack\"\n\n[[webhooks]]\nurl_env = \"HOOK_URL\"\n"
        );
        let plain = "[[models]]\nname = \"m\"\nvariants = [{ name = \"a\" }]\n";
        assert_eq!(redact(plain, &config(plain, Format::Toml)), plain);
    }

    #[test]
    fn urls_in_messages_lose_their_password() {
        assert_eq!(
            shown_url("http://u:p@h:99999/x"),
            "http://<redacted>@h:99999/x"
        );
        assert_eq!(shown_url("http://h:1/a@b"), "http://h:1/a@b");
    }

    #[test]
    fn yaml_is_redacted_in_place() {
        let text = format!("webhooks:\n  - url: {SLACK}\n    format: slack\n");
        let c = config(&text, Format::Yaml);
        assert_eq!(
            redact(&text, &c),
            "webhooks:\n  - url: <redacted>\n    format: slack\n"
        );
    }

    #[test]
    fn a_secret_in_another_spelling_falls_back_on_json() {
        // `\u0073` is `s`: the text never holds the secret as written.
        let escaped = SLACK.replacen("slack", "\\u0073lack", 1);
        let text = format!("[[webhooks]]\nurl = \"{escaped}\"\n");
        let c = config(&text, Format::Toml);
        assert_eq!(c.webhooks[0].url.as_deref(), Some(SLACK));
        let stored = redact(&text, &c);
        assert!(
            !stored.contains(SLACK) && !stored.contains(&escaped),
            "{stored}"
        );
        let json: serde_json::Value = serde_json::from_str(&stored).unwrap();
        assert_eq!(json["webhooks"][0]["url"], REDACTED);
    }
}
