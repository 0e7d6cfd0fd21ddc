//! Reading the secrets a config names: the value of an environment variable or the contents of a
//! file (relative to the config file). Bearer tokens of `[auth]` and `[prometheus]` and webhook
//! URLs all come through [`read_secret`]; an unset variable or an unreadable file is an error,
//! never an empty secret. Errors never quote the secret.

use std::path::Path;

use rampart_core::config::SecretSource;

/// The secret's text as found (callers trim and check it); `Err` says what is missing, without
/// the field name, which callers put in front.
pub fn read_secret(
    source: SecretSource<'_>,
    config_dir: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    match source {
        SecretSource::Inline(text) => Ok(text.to_string()),
        SecretSource::Env(var) => {
            env(var).ok_or_else(|| format!("environment variable {var} is not set"))
        }
        SecretSource::File(file) => {
            let path = match config_dir {
                Some(dir) if file.is_relative() => dir.join(file),
                _ => file.to_path_buf(),
            };
            std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_and_files_relative_to_the_config() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hook.url"), "https://h/x\n").unwrap();
        let env = |v: &str| (v == "HOOK").then(|| "https://e/y".to_string());
        let file = SecretSource::File(Path::new("hook.url"));
        assert_eq!(
            read_secret(file, Some(dir.path()), &env).unwrap(),
            "https://h/x\n"
        );
        assert_eq!(
            read_secret(SecretSource::Env("HOOK"), None, &env).unwrap(),
            "https://e/y"
        );
        assert_eq!(
            read_secret(SecretSource::Env("NOPE"), None, &env).unwrap_err(),
            "environment variable NOPE is not set"
        );
        let missing = read_secret(
            SecretSource::File(Path::new("gone.url")),
            Some(dir.path()),
            &env,
        )
        .unwrap_err();
        assert!(
            missing.starts_with(&format!(
                "cannot read {}",
                dir.path().join("gone.url").display()
            )),
            "{missing}"
        );
    }
}
