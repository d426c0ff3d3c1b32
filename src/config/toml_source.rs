//! TOML config files: flattened into Kafka's dotted keys.
//!
//! `"log.dirs" = "/data"` (a quoted key), `log.dirs = "/data"` (a dotted key) and
//! `[log]` + `dirs = "/data"` (a table) all become the key `log.dirs`. Every leaf keeps the
//! position of its key, so errors can name the line.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

use super::settings::Value;

/// One flattened entry: dotted key, value, and the 1-based line of its (last) key segment.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub key: String,
    pub value: Value,
    pub line: usize,
}

/// A syntax error, with the line when toml knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub line: Option<usize>,
    pub message: String,
}

enum Node {
    Leaf(Value),
    Table(Vec<(Spanned<String>, Node)>),
}

/// toml's private marker for date-times, which arrive as a one-entry map whose key has no span.
/// No setting takes a date-time, so they are rejected (see [`flatten_toml`]).
const DATETIME_FIELD: &str = "$__toml_private_datetime";

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Node, E> {
        Ok(Node::Leaf(Value::Bool(b)))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Node, E> {
        Ok(Node::Leaf(Value::Int(n)))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Node, E> {
        Ok(Node::Leaf(match i64::try_from(n) {
            Ok(n) => Value::Int(n),
            Err(_) => Value::Str(n.to_string()),
        }))
    }

    fn visit_f64<E: de::Error>(self, x: f64) -> Result<Node, E> {
        Ok(Node::Leaf(Value::Float(x)))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Node, E> {
        Ok(Node::Leaf(Value::Str(s.to_owned())))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Node, E> {
        Ok(Node::Leaf(Value::Str(s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(node) = seq.next_element::<Node>()? {
            match node {
                Node::Leaf(v) => items.push(v),
                Node::Table(_) => {
                    return Err(de::Error::custom(
                        "tables inside arrays are not used by any setting",
                    ))
                }
            }
        }
        Ok(Node::Leaf(Value::List(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let value: Node = map.next_value()?;
            entries.push((key, value));
        }
        Ok(Node::Table(entries))
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Parses TOML text into dotted keys, in file order within each table.
pub(crate) fn flatten_toml(text: &str) -> Result<Vec<Entry>, SyntaxError> {
    let root: Node = toml::from_str(text).map_err(|e| SyntaxError {
        line: e.span().map(|span| line_of(text, span.start)),
        message: if e.message().contains(DATETIME_FIELD) {
            "date-time values are not used by any setting (quote it to pass a string)".to_owned()
        } else {
            e.message().trim().to_owned()
        },
    })?;
    let mut out = Vec::new();
    if let Node::Table(entries) = root {
        flatten_into(text, "", entries, &mut out);
    }
    Ok(out)
}

fn flatten_into(
    text: &str,
    prefix: &str,
    entries: Vec<(Spanned<String>, Node)>,
    out: &mut Vec<Entry>,
) {
    for (key, node) in entries {
        let line = line_of(text, key.span().start);
        let key = key.into_inner();
        let full = if prefix.is_empty() {
            key
        } else {
            format!("{prefix}.{key}")
        };
        match node {
            Node::Leaf(value) => out.push(Entry {
                key: full,
                value,
                line,
            }),
            Node::Table(children) => flatten_into(text, &full, children, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(text: &str) -> Vec<(String, Value, usize)> {
        match flatten_toml(text) {
            Ok(entries) => entries
                .into_iter()
                .map(|e| (e.key, e.value, e.line))
                .collect(),
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn all_key_shapes_flatten_alike() {
        let text = r#"
"log.dirs" = "/a"
num.partitions = 3

[log.retention]
hours = 5
[max]
"connections.per.ip" = [1, "x"]
"#;
        assert_eq!(
            flat(text),
            vec![
                ("log.dirs".into(), Value::Str("/a".into()), 2),
                ("num.partitions".into(), Value::Int(3), 3),
                ("log.retention.hours".into(), Value::Int(5), 6),
                (
                    "max.connections.per.ip".into(),
                    Value::List(vec![Value::Int(1), Value::Str("x".into())]),
                    8
                ),
            ]
        );
    }

    #[test]
    fn syntax_errors_have_lines() {
        let err = flatten_toml("a = 1\nb = = 2\n").err();
        assert_eq!(err.and_then(|e| e.line), Some(2));
        let err = flatten_toml("a = 1\na = 2\n").err();
        assert_eq!(err.and_then(|e| e.line), Some(2));
        let err = flatten_toml("a = 1\n[d]\nwhen = 1979-05-27T07:32:00Z\n");
        assert_eq!(
            err.err(),
            Some(SyntaxError {
                line: Some(3),
                message: "date-time values are not used by any setting (quote it to pass a string)"
                    .into()
            })
        );
    }
}
