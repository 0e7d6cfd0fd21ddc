//! A format-neutral document tree with line numbers: TOML (through `toml_edit`) and YAML (through
//! `yaml-rust2`'s event parser) both become a [`Node`], so structure checks, line lookup and
//! deserialization are written once.

use toml_edit::{ImDocument, Item, Table};

use crate::config::text::LineIndex;
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// One value of the document and the 1-based line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Node {
    pub line: Option<usize>,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// A TOML date or time, kept as written; no field of the schema takes one.
    Datetime(String),
    List(Vec<Node>),
    Table(Vec<Entry>),
}

/// One key of a table, with the line of the key itself.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Entry {
    pub key: String,
    pub line: Option<usize>,
    pub node: Node,
}

impl Value {
    /// How the value is described in messages: "a string (\"ten\")", "an integer (5)".
    pub fn describe(&self) -> String {
        match self {
            Value::Null => "nothing (null)".to_string(),
            Value::Bool(b) => format!("a boolean ({b})"),
            Value::Int(i) => format!("an integer ({i})"),
            Value::Float(f) => format!("a number ({f})"),
            Value::Str(s) => format!("a string ({s:?})"),
            Value::Datetime(d) => format!("a date-time ({d})"),
            Value::List(_) => "a list".to_string(),
            Value::Table(_) => "a table".to_string(),
        }
    }
}

/// Why a document could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SyntaxError {
    pub line: Option<usize>,
    pub message: String,
}

/// Parses TOML text into a tree.
pub(super) fn parse_toml(text: &str) -> Result<Node, SyntaxError> {
    let lines = LineIndex::new(text);
    let doc = ImDocument::parse(text).map_err(|e| SyntaxError {
        line: lines.of(e.span()),
        message: format!("not valid TOML: {}", e.message().trim_end()),
    })?;
    Ok(Node {
        line: Some(1),
        value: toml_table(doc.as_table(), &lines),
    })
}

fn toml_table(table: &Table, lines: &LineIndex) -> Value {
    let entries = table
        .iter()
        .map(|(key, item)| {
            let key_line = table.key(key).and_then(|k| lines.of(k.span()));
            let node = toml_item(item, lines, key_line);
            Entry {
                key: key.to_string(),
                line: key_line.or(node.line),
                node,
            }
        })
        .collect();
    Value::Table(entries)
}

fn toml_item(item: &Item, lines: &LineIndex, fallback: Option<usize>) -> Node {
    match item {
        Item::None => Node {
            line: fallback,
            value: Value::Null,
        },
        Item::Value(v) => toml_value(v, lines),
        // Implicit tables (made by dotted keys or `[a.b]` headers) have no span of their own.
        Item::Table(t) => Node {
            line: lines.of(t.span()).or(fallback),
            value: toml_table(t, lines),
        },
        Item::ArrayOfTables(a) => Node {
            line: lines.of(a.span()).or(fallback),
            value: Value::List(
                a.iter()
                    .map(|t| Node {
                        line: lines.of(t.span()).or(fallback),
                        value: toml_table(t, lines),
                    })
                    .collect(),
            ),
        },
    }
}

fn toml_value(value: &toml_edit::Value, lines: &LineIndex) -> Node {
    use toml_edit::Value as V;
    let line = lines.of(value.span());
    let value = match value {
        V::String(s) => Value::Str(s.value().clone()),
        V::Integer(i) => Value::Int(*i.value()),
        V::Float(f) => Value::Float(*f.value()),
        V::Boolean(b) => Value::Bool(*b.value()),
        V::Datetime(d) => Value::Datetime(d.value().to_string()),
        V::Array(a) => Value::List(a.iter().map(|v| toml_value(v, lines)).collect()),
        V::InlineTable(t) => Value::Table(
            t.iter()
                .map(|(key, v)| {
                    let node = toml_value(v, lines);
                    let key_line = t.key(key).and_then(|k| lines.of(k.span()));
                    Entry {
                        key: key.to_string(),
                        line: key_line.or(node.line),
                        node,
                    }
                })
                .collect(),
        ),
    };
    Node { line, value }
}

/// Deeper documents are refused rather than risking the stack.
const MAX_DEPTH: usize = 64;
/// Aliases can multiply a small document into a huge one; past this many nodes it is refused.
const MAX_NODES: usize = 1_000_000;

/// Parses YAML text (one document) into a tree, resolving plain scalars by the YAML 1.2 core schema.
pub(super) fn parse_yaml(text: &str) -> Result<Node, SyntaxError> {
    let mut reader = YamlReader {
        parser: Parser::new_from_str(text),
        anchors: Vec::new(),
        nodes: 0,
    };
    let (first, mark) = reader.next()?;
    if first != Event::StreamStart {
        return Err(reader.unexpected(&first, mark));
    }
    let root = match reader.next()? {
        (Event::StreamEnd, _) => Node {
            line: None,
            value: Value::Table(Vec::new()),
        },
        (Event::DocumentStart, _) => {
            let (ev, mark) = reader.next()?;
            let root = reader.node(ev, mark, 0)?;
            match reader.next()? {
                (Event::DocumentEnd, _) => {}
                (ev, mark) => return Err(reader.unexpected(&ev, mark)),
            }
            match reader.next()? {
                (Event::StreamEnd, _) => {}
                (_, mark) => {
                    return Err(SyntaxError {
                        line: Some(mark.line()),
                        message: "a config file holds one YAML document; found a second one"
                            .to_string(),
                    })
                }
            }
            root
        }
        (ev, mark) => return Err(reader.unexpected(&ev, mark)),
    };
    // An empty document is an empty config.
    Ok(match root.value {
        Value::Null => Node {
            line: root.line,
            value: Value::Table(Vec::new()),
        },
        _ => root,
    })
}

struct YamlReader<'a> {
    parser: Parser<std::str::Chars<'a>>,
    /// Nodes by anchor id, for aliases.
    anchors: Vec<(usize, Node)>,
    nodes: usize,
}

impl YamlReader<'_> {
    fn next(&mut self) -> Result<(Event, Marker), SyntaxError> {
        self.parser.next_token().map_err(|e| SyntaxError {
            line: Some(e.marker().line()),
            message: format!("not valid YAML: {}", e.info()),
        })
    }

    fn unexpected(&self, ev: &Event, mark: Marker) -> SyntaxError {
        SyntaxError {
            line: Some(mark.line()),
            message: format!("not valid YAML: unexpected {ev:?}"),
        }
    }

    fn remember(&mut self, anchor: usize, node: &Node) {
        if anchor != 0 {
            self.anchors.push((anchor, node.clone()));
        }
    }

    fn count(&mut self, add: usize, mark: Marker) -> Result<(), SyntaxError> {
        self.nodes += add;
        if self.nodes > MAX_NODES {
            return Err(SyntaxError {
                line: Some(mark.line()),
                message: format!(
                    "the document expands to more than {MAX_NODES} values (through aliases?)"
                ),
            });
        }
        Ok(())
    }

    fn node(&mut self, ev: Event, mark: Marker, depth: usize) -> Result<Node, SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(SyntaxError {
                line: Some(mark.line()),
                message: format!("nested deeper than {MAX_DEPTH} levels"),
            });
        }
        self.count(1, mark)?;
        let line = Some(mark.line());
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let node = Node {
                    line,
                    value: resolve_scalar(text, style, tag.as_ref()),
                };
                self.remember(anchor, &node);
                Ok(node)
            }
            Event::Alias(id) => {
                let found = self
                    .anchors
                    .iter()
                    .rev()
                    .find(|(a, _)| *a == id)
                    .map(|(_, n)| n.clone());
                let node = found.ok_or_else(|| SyntaxError {
                    line,
                    message: "not valid YAML: alias to an unknown anchor".to_string(),
                })?;
                self.count(size(&node), mark)?;
                Ok(Node {
                    line,
                    value: node.value,
                })
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    match self.next()? {
                        (Event::SequenceEnd, _) => break,
                        (ev, mark) => items.push(self.node(ev, mark, depth + 1)?),
                    }
                }
                let node = Node {
                    line,
                    value: Value::List(items),
                };
                self.remember(anchor, &node);
                Ok(node)
            }
            Event::MappingStart(anchor, _) => {
                let node = Node {
                    line,
                    value: Value::Table(self.mapping(depth)?),
                };
                self.remember(anchor, &node);
                Ok(node)
            }
            other => Err(self.unexpected(&other, mark)),
        }
    }

    fn mapping(&mut self, depth: usize) -> Result<Vec<Entry>, SyntaxError> {
        let mut entries: Vec<Entry> = Vec::new();
        let mut merged: Vec<Entry> = Vec::new();
        loop {
            let (ev, mark) = self.next()?;
            let key = match ev {
                Event::MappingEnd => break,
                Event::Scalar(text, ..) => text,
                _ => {
                    return Err(SyntaxError {
                        line: Some(mark.line()),
                        message: "keys must be plain strings".to_string(),
                    })
                }
            };
            let (ev, vmark) = self.next()?;
            let node = self.node(ev, vmark, depth + 1)?;
            if key == "<<" {
                // A merge key: entries of the merged table(s), overridden by the explicit ones.
                let sources = match node.value {
                    Value::List(items) => items,
                    other => vec![Node {
                        line: node.line,
                        value: other,
                    }],
                };
                for source in sources {
                    match source.value {
                        Value::Table(es) => merged.extend(es),
                        _ => {
                            return Err(SyntaxError {
                                line: Some(mark.line()),
                                message: "a merge key (<<) takes a table or a list of tables"
                                    .to_string(),
                            })
                        }
                    }
                }
                continue;
            }
            if entries.iter().any(|e| e.key == key) {
                return Err(SyntaxError {
                    line: Some(mark.line()),
                    message: format!("duplicate key {key:?} in one table"),
                });
            }
            entries.push(Entry {
                key,
                line: Some(mark.line()),
                node,
            });
        }
        for m in merged {
            if !entries.iter().any(|e| e.key == m.key) {
                entries.push(m);
            }
        }
        Ok(entries)
    }
}

fn size(node: &Node) -> usize {
    match &node.value {
        Value::List(items) => 1 + items.iter().map(size).sum::<usize>(),
        Value::Table(entries) => 1 + entries.iter().map(|e| size(&e.node)).sum::<usize>(),
        _ => 1,
    }
}

/// The YAML 1.2 core schema: quoted and block scalars are strings; plain ones may be null, bool,
/// integer or float.
fn resolve_scalar(text: String, style: TScalarStyle, tag: Option<&Tag>) -> Value {
    if style != TScalarStyle::Plain || tag.is_some_and(|t| t.suffix == "str") {
        return Value::Str(text);
    }
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    if let Some(v) = resolve_int(&text) {
        return v;
    }
    if is_float(&text) {
        if let Ok(f) = text.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::Str(text)
}

fn resolve_int(text: &str) -> Option<Value> {
    let parsed = if let Some(hex) = text.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()
    } else if let Some(oct) = text.strip_prefix("0o") {
        i64::from_str_radix(oct, 8).ok()
    } else {
        let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        match text.parse::<i64>() {
            Ok(i) => Some(i),
            // Too large for an integer: still a number.
            Err(_) => return text.parse::<f64>().ok().map(Value::Float),
        }
    };
    parsed.map(Value::Int)
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`
fn is_float(text: &str) -> bool {
    let s = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match frac {
        Some(f) => digits(int) && digits(f) && !(int.is_empty() && f.is_empty()),
        None => !int.is_empty() && digits(int),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(node: &Node) -> &[Entry] {
        match &node.value {
            Value::Table(es) => es,
            other => panic!("expected a table, got {other:?}"),
        }
    }

    #[test]
    fn toml_keys_carry_their_lines() {
        let text = "[server]\nlisten = \"x\"\n\n[[models]]\nname = \"m\"\nvariants = [\n  { name = \"v1\" },\n  { name = \"v2\" },\n]\n";
        let root = parse_toml(text).unwrap();
        let top = table(&root);
        assert_eq!(top[0].key, "server");
        assert_eq!(top[0].line, Some(1));
        assert_eq!(table(&top[0].node)[0].line, Some(2));
        let Value::List(models) = &top[1].node.value else {
            panic!("models is not a list")
        };
        assert_eq!(models[0].line, Some(4));
        let variants = &table(&models[0])[1];
        assert_eq!(variants.line, Some(6));
        let Value::List(vs) = &variants.node.value else {
            panic!("variants is not a list")
        };
        assert_eq!(vs[1].line, Some(8));
    }

    #[test]
    fn toml_syntax_error_has_a_line() {
        let err = parse_toml("a = 1\nb = = 2\n").unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.message.starts_with("not valid TOML"), "{}", err.message);
    }

    #[test]
    fn yaml_scalars_follow_the_core_schema() {
        let root = parse_yaml(
            "a: 1\nb: 1.5\nc: true\nd: ~\ne: '1'\nf: no\ng: 0x1F\nh: -.inf\ni: 1e3\nj: 1.2.3\n",
        )
        .unwrap();
        let values: Vec<&Value> = table(&root).iter().map(|e| &e.node.value).collect();
        assert_eq!(values[0], &Value::Int(1));
        assert_eq!(values[1], &Value::Float(1.5));
        assert_eq!(values[2], &Value::Bool(true));
        assert_eq!(values[3], &Value::Null);
        assert_eq!(values[4], &Value::Str("1".into()));
        assert_eq!(values[5], &Value::Str("no".into()));
        assert_eq!(values[6], &Value::Int(31));
        assert_eq!(values[7], &Value::Float(f64::NEG_INFINITY));
        assert_eq!(values[8], &Value::Float(1000.0));
        assert_eq!(values[9], &Value::Str("1.2.3".into()));
    }

    #[test]
    fn yaml_lines_aliases_and_merge_keys() {
        let text = "base: &b\n  x: 1\n  y: 2\nother:\n  <<: *b\n  y: 3\nlist:\n  - a\n  - b\n";
        let root = parse_yaml(text).unwrap();
        let top = table(&root);
        assert_eq!(
            top.iter().map(|e| e.line).collect::<Vec<_>>(),
            vec![Some(1), Some(4), Some(7)]
        );
        let other = table(&top[1].node);
        let got: Vec<(&str, &Value)> = other
            .iter()
            .map(|e| (e.key.as_str(), &e.node.value))
            .collect();
        assert_eq!(got, vec![("y", &Value::Int(3)), ("x", &Value::Int(1))]);
        let Value::List(items) = &top[2].node.value else {
            panic!("list is not a list")
        };
        assert_eq!(items[1].line, Some(9));
    }

    #[test]
    fn yaml_refuses_duplicates_and_second_documents() {
        assert_eq!(parse_yaml("a: 1\nb: 2\na: 3\n").unwrap_err().line, Some(3));
        let err = parse_yaml("a: 1\n---\nb: 2\n").unwrap_err();
        assert!(err.message.contains("one YAML document"), "{}", err.message);
        assert!(parse_yaml("a: [1,\n").is_err());
    }

    #[test]
    fn empty_yaml_is_an_empty_table() {
        assert_eq!(parse_yaml("").unwrap().value, Value::Table(Vec::new()));
        assert_eq!(
            parse_yaml("# only a comment\n").unwrap().value,
            Value::Table(Vec::new())
        );
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let prev = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let err = parse_yaml(&text).unwrap_err();
        assert!(err.message.contains("more than"), "{}", err.message);
    }
}
