//! Reading a config file in three passes: parse TOML or YAML into a tree with line numbers, check
//! its structure against the schema (unknown keys, types, enum values, durations), then deserialize
//! and run the semantic rules of `validate`. Every problem of a pass is reported, each with its
//! file, line and field path.

mod schema;
mod tree;

use std::collections::BTreeMap;
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

impl std::error::Error for ConfigError {}

/// Every problem found in a config file (never empty), in the order of the file where known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// The problems reported at exactly this field path.
    pub fn at(&self, field: &str) -> Vec<&ConfigError> {
        self.0.iter().filter(|e| e.field == field).collect()
    }
}

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

/// A config that passed every check, and what in it is valid but almost certainly not meant.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub config: Config,
    /// Warnings, each with its file, line and field path, in the order of the file.
    pub warnings: Vec<ConfigError>,
}

/// Reads, parses and validates a config file.
pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
    check_file(path).map(|l| l.config)
}

/// [`load_file`], keeping the warnings.
pub fn check_file(path: &Path) -> Result<Loaded, ConfigErrors> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: name.clone(),
            line: None,
            field: String::new(),
            message: format!("cannot read the file: {e}"),
        }])
    })?;
    check_str(&text, Format::from_path(path), &name)
}

/// Parses and validates config text; `file` names it in errors.
pub fn load_str(text: &str, format: Format, file: &str) -> Result<Config, ConfigErrors> {
    check_str(text, format, file).map(|l| l.config)
}

/// [`load_str`], keeping the warnings.
pub fn check_str(text: &str, format: Format, file: &str) -> Result<Loaded, ConfigErrors> {
    let error = |line, field: String, message| ConfigError {
        file: file.to_string(),
        line,
        field,
        message,
    };
    let parsed = match format {
        Format::Toml => tree::parse_toml(text),
        Format::Yaml => tree::parse_yaml(text),
    };
    let root = parsed.map_err(|e| ConfigErrors(vec![error(e.line, String::new(), e.message)]))?;

    let checked = schema::check(&root);
    let mut errors: Vec<ConfigError> = checked
        .problems
        .into_iter()
        .map(|p| error(p.line, p.field, p.message))
        .collect();
    // With a value refused or a key missing, the deserialized config would not be the file, and
    // rules run on it would report phantom problems.
    if checked.complete {
        match serde_json::from_value::<Config>(checked.json) {
            Ok(config) => {
                let (problems, warnings) = super::validate::check(&config);
                for p in problems {
                    let line = line_of(&checked.lines, &p.field);
                    errors.push(error(line, p.field, p.message));
                }
                if errors.is_empty() {
                    let mut warnings: Vec<ConfigError> = warnings
                        .into_iter()
                        .map(|p| error(line_of(&checked.lines, &p.field), p.field, p.message))
                        .collect();
                    warnings.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
                    return Ok(Loaded { config, warnings });
                }
            }
            // The schema check should make this unreachable; report it rather than trust that.
            Err(e) => errors.push(error(
                None,
                String::new(),
                format!("cannot read the config: {e}"),
            )),
        }
    }
    errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
    Err(ConfigErrors(errors))
}

/// Every string of a document (keys and values), or `None` when it does not parse.
pub(super) fn strings_of(text: &str, format: Format) -> Option<Vec<String>> {
    fn walk(node: &tree::Node, out: &mut Vec<String>) {
        match &node.value {
            tree::Value::Str(s) | tree::Value::Datetime(s) => out.push(s.clone()),
            tree::Value::List(items) => items.iter().for_each(|n| walk(n, out)),
            tree::Value::Table(entries) => {
                for e in entries {
                    out.push(e.key.clone());
                    walk(&e.node, out);
                }
            }
            _ => {}
        }
    }
    let root = match format {
        Format::Toml => tree::parse_toml(text),
        Format::Yaml => tree::parse_yaml(text),
    }
    .ok()?;
    let mut out = Vec::new();
    walk(&root, &mut out);
    Some(out)
}

/// The line of `field`, or of the closest enclosing field that appears in the file (a missing key
/// is reported at the table that lacks it).
fn line_of(lines: &BTreeMap<String, usize>, field: &str) -> Option<usize> {
    let mut path = field;
    loop {
        if let Some(&line) = lines.get(path) {
            return Some(line);
        }
        let cut = path.rfind(['.', '['])?;
        path = &path[..cut];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_of_falls_back_to_the_enclosing_field() {
        let lines: BTreeMap<String, usize> = [
            ("rollouts".to_string(), 3),
            ("rollouts[0]".to_string(), 4),
            ("rollouts[0].stages".to_string(), 9),
        ]
        .into_iter()
        .collect();
        assert_eq!(line_of(&lines, "rollouts[0].stages[2].traffic"), Some(9));
        assert_eq!(line_of(&lines, "rollouts[0].gates"), Some(4));
        assert_eq!(line_of(&lines, "models[0]"), None);
    }

    #[test]
    fn errors_display_file_line_field_message() {
        let e = ConfigError {
            file: "a.toml".into(),
            line: Some(7),
            field: "server.tick".into(),
            message: "m".into(),
        };
        assert_eq!(e.to_string(), "a.toml:7: server.tick: m");
        let e = ConfigError {
            file: "a.toml".into(),
            line: None,
            field: String::new(),
            message: "m".into(),
        };
        assert_eq!(e.to_string(), "a.toml: m");
    }
}
