//! Reading a config file: parse TOML or YAML, then validate; errors carry file, line and field.

use std::fmt;
use std::path::Path;

use super::Config;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    Yaml,
}

impl Format {
    /// YAML for `.yaml`/`.yml`, TOML otherwise.
    pub fn from_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some("yaml" | "yml") => Format::Yaml,
            _ => Format::Toml,
        }
    }
}

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    /// 1-based line of the offending value, when it can be located.
    pub line: Option<usize>,
    /// Path of the field, e.g. `rollouts[0].stages[2].traffic`; empty for whole-file errors.
    pub field: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in a config file (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Reads, parses and validates a config file.
pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: name.clone(),
            line: None,
            field: String::new(),
            message: format!("cannot read the file: {e}"),
        }])
    })?;
    load_str(&text, Format::from_path(path), &name)
}

/// Parses and validates config text; `file` names it in errors.
pub fn load_str(text: &str, format: Format, file: &str) -> Result<Config, ConfigErrors> {
    let config: Config = match format {
        Format::Toml => toml::from_str(text).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: file.to_string(),
                line: None,
                field: String::new(),
                message: e.message().to_string(),
            }])
        })?,
        Format::Yaml => serde_yaml::from_str(text).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: file.to_string(),
                line: e.location().map(|l| l.line()),
                field: String::new(),
                message: e.to_string(),
            }])
        })?,
    };
    let errors = super::validate::validate(&config);
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(ConfigErrors(
            errors
                .into_iter()
                .map(|(field, message)| ConfigError { file: file.to_string(), line: None, field, message })
                .collect(),
        ))
    }
}
