//! A reader for Java `.properties` text: Kafka's `server.properties` (read by [`crate::config`]),
//! and `meta.properties` and `partition.metadata` (read by [`crate::metadata::properties`]).
//!
//! Follows `java.util.Properties.load` on the points that matter for config files:
//!
//! * a line whose first non-blank character is `#` or `!` is a comment; blank lines are skipped;
//! * the key ends at the first unescaped `=`, `:` or whitespace; `key=value`, `key: value`,
//!   `key value` and `key = value` are all the same;
//! * a line ending in an odd number of backslashes continues on the next line, whose leading
//!   whitespace is dropped (a comment line never continues);
//! * escapes `\t \n \r \f \uXXXX` are decoded, and a backslash before any other character stands
//!   for that character (`\=`, `\:`, `\#`, `\ `, `\\`);
//! * later duplicates win (the caller sees every occurrence, in order).
//!
//! Unlike Java, trailing whitespace of a value is trimmed too (unless escaped).

use thiserror::Error;

/// One `key=value` entry, with the (1-based) line on which it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// A malformed escape sequence (the only syntax error a properties file can have).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}: {message}")]
pub struct PropertiesSyntaxError {
    pub line: usize,
    pub message: String,
}

fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0c')
}

/// Splits text into natural lines (`\n`, `\r\n` or `\r`).
fn natural_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        match rest.find(['\n', '\r']) {
            None => {
                lines.push(rest);
                break;
            }
            Some(i) => {
                lines.push(&rest[..i]);
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[i + skip..];
            }
        }
    }
    lines
}

fn ends_in_odd_backslashes(s: &str) -> bool {
    s.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

/// Parses properties text into its entries, in file order.
pub fn parse_properties(text: &str) -> Result<Vec<Property>, PropertiesSyntaxError> {
    let lines = natural_lines(text);
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let first = lines[i].trim_start_matches(is_blank);
        let line_no = i + 1;
        i += 1;
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        let mut logical = String::new();
        let mut current = first;
        loop {
            if ends_in_odd_backslashes(current) {
                logical.push_str(&current[..current.len() - 1]);
                match lines.get(i) {
                    Some(next) => {
                        current = next.trim_start_matches(is_blank);
                        i += 1;
                    }
                    None => break,
                }
            } else {
                logical.push_str(current);
                break;
            }
        }
        let (raw_key, raw_value) = split_key_value(&logical);
        let error = |message: String| PropertiesSyntaxError {
            line: line_no,
            message,
        };
        let key = unescape(raw_key).map_err(error)?.0;
        let (value, significant) = unescape(raw_value).map_err(error)?;
        out.push(Property {
            key,
            value: value[..significant].to_owned(),
            line: line_no,
        });
    }
    Ok(out)
}

/// Splits a logical line (escapes still in place) into raw key and raw value.
fn split_key_value(line: &str) -> (&str, &str) {
    let mut escaped = false;
    let mut key_end = line.len();
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '=' || c == ':' || is_blank(c) {
            key_end = i;
            break;
        }
    }
    let key = &line[..key_end];
    let mut rest = &line[key_end..];
    let ended_on_separator = rest.starts_with(['=', ':']);
    if ended_on_separator {
        rest = &rest[1..];
    }
    rest = rest.trim_start_matches(is_blank);
    if !ended_on_separator && rest.starts_with(['=', ':']) {
        rest = rest[1..].trim_start_matches(is_blank);
    }
    (key, rest)
}

/// Decodes escapes; also returns the byte length without trailing unescaped whitespace.
fn unescape(raw: &str) -> Result<(String, usize), String> {
    let mut out = String::with_capacity(raw.len());
    let mut significant = 0;
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            if !is_blank(c) {
                significant = out.len();
            }
            continue;
        }
        let decoded = match chars.next() {
            None => break,
            Some('t') => '\t',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('f') => '\x0c',
            Some('u') => {
                let unit = hex4(&mut chars)?;
                if (0xD800..0xDC00).contains(&unit) {
                    // A high surrogate must be followed by an escaped low surrogate.
                    let low = match (chars.next(), chars.next()) {
                        (Some('\\'), Some('u')) => hex4(&mut chars)?,
                        _ => return Err("unpaired surrogate in \\u escape".to_owned()),
                    };
                    if !(0xDC00..0xE000).contains(&low) {
                        return Err("unpaired surrogate in \\u escape".to_owned());
                    }
                    let code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                    char::from_u32(code).ok_or("invalid \\u escape")?
                } else {
                    char::from_u32(unit).ok_or("unpaired surrogate in \\u escape")?
                }
            }
            Some(other) => other,
        };
        out.push(decoded);
        significant = out.len();
    }
    Ok((out, significant))
}

fn hex4(chars: &mut std::str::Chars<'_>) -> Result<u32, String> {
    let mut unit = 0;
    for _ in 0..4 {
        let digit = chars
            .next()
            .and_then(|c| c.to_digit(16))
            .ok_or("malformed \\uXXXX escape")?;
        unit = unit * 16 + digit;
    }
    Ok(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String, usize)> {
        match parse_properties(text) {
            Ok(props) => props
                .into_iter()
                .map(|p| (p.key, p.value, p.line))
                .collect(),
            Err(e) => panic!("{e}"),
        }
    }

    fn p(k: &str, v: &str, line: usize) -> (String, String, usize) {
        (k.to_owned(), v.to_owned(), line)
    }

    #[test]
    fn separators_and_whitespace() {
        let text = "a=1\n  b : 2\nc 3\n\td\t=\t4  \ne=\nf\ng = = x\nh::y";
        assert_eq!(
            pairs(text),
            vec![
                p("a", "1", 1),
                p("b", "2", 2),
                p("c", "3", 3),
                p("d", "4", 4),
                p("e", "", 5),
                p("f", "", 6),
                p("g", "= x", 7),
                p("h", ":y", 8),
            ]
        );
    }

    #[test]
    fn comments_and_blank_lines() {
        let text = "# comment\n! also\n\n   \n  # indented comment\nk=v # not a comment\n";
        assert_eq!(pairs(text), vec![p("k", "v # not a comment", 6)]);
    }

    #[test]
    fn continuation_lines() {
        let text = "list=a,\\\n     b,\\\n\tc\nnext=1\r\nodd=x\\\\\nlast=end\\";
        assert_eq!(
            pairs(text),
            vec![
                p("list", "a,b,c", 1),
                p("next", "1", 4),
                p("odd", "x\\", 5),
                p("last", "end", 6),
            ]
        );
        // A comment line does not continue, but a continued line may look like a comment.
        assert_eq!(
            pairs("# c \\\nk=v\\\n# part of v"),
            vec![p("k", "v# part of v", 2)]
        );
    }

    #[test]
    fn escapes() {
        let text = r"key\ with\=odd\:chars = tab\there\u00e9\\ \
trail\ ";
        assert_eq!(
            pairs(text),
            vec![p("key with=odd:chars", "tab\there\u{e9}\\ trail ", 1)]
        );
        assert_eq!(pairs(r"e=\uD83D\uDE00"), vec![p("e", "\u{1F600}", 1)]);
        let err = parse_properties("ok=1\nbad=\\u12G4").err();
        assert_eq!(err.map(|e| e.line), Some(2));
        assert!(parse_properties(r"bad=\uD83D").is_err());
    }

    #[test]
    fn line_endings() {
        assert_eq!(
            pairs("a=1\rb=2\r\nc=3\n"),
            vec![p("a", "1", 1), p("b", "2", 2), p("c", "3", 3)]
        );
        assert_eq!(pairs(""), vec![]);
    }
}
