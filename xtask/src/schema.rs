//! Parsing the Kafka JSON message schemas into a small model.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// A version range; empty when `lo > hi`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Versions {
    pub lo: i16,
    pub hi: i16,
}

impl Versions {
    pub const NONE: Versions = Versions { lo: 1, hi: 0 };

    /// Parses `"3+"`, `"1-4"`, `"5"` or `"none"`.
    pub fn parse(spec: &str) -> Result<Versions, String> {
        let spec = spec.trim();
        let num = |s: &str| {
            s.trim()
                .parse::<i16>()
                .map_err(|e| format!("bad version spec {spec:?}: {e}"))
        };
        if spec == "none" {
            Ok(Versions::NONE)
        } else if let Some(lo) = spec.strip_suffix('+') {
            Ok(Versions {
                lo: num(lo)?,
                hi: i16::MAX,
            })
        } else if let Some((lo, hi)) = spec.split_once('-') {
            Ok(Versions {
                lo: num(lo)?,
                hi: num(hi)?,
            })
        } else {
            let v = num(spec)?;
            Ok(Versions { lo: v, hi: v })
        }
    }

    pub fn is_empty(self) -> bool {
        self.lo > self.hi
    }

    pub fn contains(self, v: i16) -> bool {
        self.lo <= v && v <= self.hi
    }

    pub fn intersect(self, other: Versions) -> Versions {
        Versions {
            lo: self.lo.max(other.lo),
            hi: self.hi.min(other.hi),
        }
    }

    /// The part of `self` below `other` (used for "versions minus
    /// taggedVersions", which must be a prefix).
    pub fn minus_suffix(self, other: Versions) -> Result<Versions, String> {
        if other.is_empty() {
            return Ok(self);
        }
        if other.hi < self.hi {
            return Err(format!(
                "taggedVersions {other:?} is not a suffix of versions {self:?}"
            ));
        }
        Ok(Versions {
            lo: self.lo,
            hi: self.hi.min(other.lo.saturating_sub(1)),
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Type {
    Bool,
    Int8,
    Int16,
    Int32,
    Int64,
    Uint16,
    Uint32,
    Float64,
    Uuid,
    String,
    Bytes,
    Records,
    Array(Box<Type>),
    Struct(String),
}

impl Type {
    fn parse(s: &str) -> Type {
        if let Some(inner) = s.strip_prefix("[]") {
            return Type::Array(Box::new(Type::parse(inner)));
        }
        match s {
            "bool" => Type::Bool,
            "int8" => Type::Int8,
            "int16" => Type::Int16,
            "int32" => Type::Int32,
            "int64" => Type::Int64,
            "uint16" => Type::Uint16,
            "uint32" => Type::Uint32,
            "float64" => Type::Float64,
            "uuid" => Type::Uuid,
            "string" => Type::String,
            "bytes" => Type::Bytes,
            "records" => Type::Records,
            other => Type::Struct(other.to_string()),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub name: String,
    pub ty: Type,
    pub versions: Versions,
    pub nullable: Versions,
    pub tag: Option<u32>,
    pub tagged: Versions,
    pub flexible_override: Option<Versions>,
    pub default: Option<String>,
    pub about: Option<String>,
}

impl Field {
    /// Versions in which the field is written in place (not tagged).
    pub fn inline_versions(&self) -> Result<Versions, String> {
        if self.tag.is_some() {
            self.versions.minus_suffix(self.tagged)
        } else {
            Ok(self.versions)
        }
    }

    /// Versions in which the field is written in the tagged section.
    pub fn tagged_versions(&self) -> Versions {
        if self.tag.is_some() {
            self.tagged.intersect(self.versions)
        } else {
            Versions::NONE
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct StructDef {
    pub name: String,
    pub fields: Vec<Field>,
}

#[derive(Clone, Debug)]
pub struct Schema {
    pub name: String,
    pub kind: String,
    pub api_key: Option<i16>,
    pub valid: Versions,
    pub flexible: Versions,
    /// `structs[0]` is the message itself; the others are nested and common
    /// structs, in definition order.
    pub structs: Vec<StructDef>,
}

/// Removes `//` line comments (outside of strings).
pub fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    let mut escaped = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        if c == '"' {
            in_string = true;
            out.push(c);
        } else if c == '/' && chars.peek() == Some(&'/') {
            for c in chars.by_ref() {
                if c == '\n' {
                    out.push('\n');
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

pub fn load(path: &Path) -> Result<Schema, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let json: Value = serde_json::from_str(&strip_comments(&text))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    parse_schema(&json).map_err(|e| format!("{}: {e}", path.display()))
}

fn get_str<'a>(v: &'a Value, key: &str) -> Result<&'a str, String> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("missing string {key:?}"))
}

fn opt_versions(v: &Value, key: &str) -> Result<Option<Versions>, String> {
    match v.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Versions::parse(s).map(Some),
        Some(other) => Err(format!("{key} is not a string: {other}")),
    }
}

fn parse_schema(json: &Value) -> Result<Schema, String> {
    let name = get_str(json, "name")?.to_string();
    let kind = get_str(json, "type")?.to_string();
    let api_key = json
        .get("apiKey")
        .and_then(Value::as_i64)
        .map(|k| i16::try_from(k).map_err(|_| format!("apiKey {k} out of range")))
        .transpose()?;
    let valid = Versions::parse(get_str(json, "validVersions")?)?;
    let flexible = opt_versions(json, "flexibleVersions")?.unwrap_or(Versions::NONE);

    let mut structs: Vec<StructDef> = Vec::new();
    let top = parse_fields(json, &mut structs)?;
    structs.insert(
        0,
        StructDef {
            name: name.clone(),
            fields: top,
        },
    );
    if let Some(common) = json.get("commonStructs").and_then(Value::as_array) {
        for cs in common {
            let fields = parse_fields(cs, &mut structs)?;
            add_struct(
                &mut structs,
                StructDef {
                    name: get_str(cs, "name")?.to_string(),
                    fields,
                },
            )?;
        }
    }

    // Every referenced struct type must be defined.
    let defined: BTreeMap<&str, ()> = structs.iter().map(|s| (s.name.as_str(), ())).collect();
    for s in &structs {
        for f in &s.fields {
            let mut t = &f.ty;
            while let Type::Array(inner) = t {
                t = inner;
            }
            if let Type::Struct(n) = t {
                if !defined.contains_key(n.as_str()) {
                    return Err(format!("field {} uses undefined struct {n}", f.name));
                }
            }
        }
    }

    Ok(Schema {
        name,
        kind,
        api_key,
        valid,
        flexible,
        structs,
    })
}

fn add_struct(structs: &mut Vec<StructDef>, def: StructDef) -> Result<(), String> {
    if let Some(existing) = structs.iter().find(|s| s.name == def.name) {
        if *existing != def {
            return Err(format!("struct {} is defined twice, differently", def.name));
        }
        return Ok(());
    }
    structs.push(def);
    Ok(())
}

fn parse_fields(parent: &Value, structs: &mut Vec<StructDef>) -> Result<Vec<Field>, String> {
    let mut out = Vec::new();
    let Some(fields) = parent.get("fields").and_then(Value::as_array) else {
        return Ok(out);
    };
    for f in fields {
        let name = get_str(f, "name")?.to_string();
        let ty = Type::parse(get_str(f, "type")?);
        let versions = Versions::parse(get_str(f, "versions")?)?;
        let nullable = opt_versions(f, "nullableVersions")?.unwrap_or(Versions::NONE);
        let tag = match f.get("tag") {
            None => None,
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
            Some(_) => None,
        }
        .map(|t| u32::try_from(t).map_err(|_| format!("field {name}: tag {t} out of range")))
        .transpose()?;
        if f.get("tag").is_some() && tag.is_none() {
            return Err(format!("field {name}: bad tag"));
        }
        let tagged = opt_versions(f, "taggedVersions")?.unwrap_or(Versions::NONE);
        if tag.is_some() == tagged.is_empty() {
            return Err(format!(
                "field {name}: tag and taggedVersions must come together"
            ));
        }
        let default = match f.get("default") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::Bool(b)) => Some(b.to_string()),
            Some(other) => return Err(format!("field {name}: odd default {other}")),
        };
        if f.get("fields").is_some() {
            let mut t = &ty;
            while let Type::Array(inner) = t {
                t = inner;
            }
            let Type::Struct(struct_name) = t else {
                return Err(format!("field {name} has fields but is not a struct"));
            };
            let nested = parse_fields(f, structs)?;
            add_struct(
                structs,
                StructDef {
                    name: struct_name.clone(),
                    fields: nested,
                },
            )?;
        }
        out.push(Field {
            name,
            ty,
            versions,
            nullable,
            tag,
            tagged,
            flexible_override: opt_versions(f, "flexibleVersions")?,
            default,
            about: f.get("about").and_then(Value::as_str).map(str::to_string),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_specs() {
        assert_eq!(
            Versions::parse("3+"),
            Ok(Versions {
                lo: 3,
                hi: i16::MAX
            })
        );
        assert_eq!(Versions::parse("1-4"), Ok(Versions { lo: 1, hi: 4 }));
        assert_eq!(Versions::parse("5"), Ok(Versions { lo: 5, hi: 5 }));
        assert!(Versions::parse("none")
            .map(Versions::is_empty)
            .unwrap_or(false));
        assert!(Versions::parse("x").is_err());
    }

    #[test]
    fn comments_are_stripped_outside_strings() {
        let text = "// header\n{ \"a\": \"http://x\", // trailing\n \"b\": 1 }";
        let json: Value = serde_json::from_str(&strip_comments(text)).expect("valid json");
        assert_eq!(json["a"], "http://x");
        assert_eq!(json["b"], 1);
    }

    #[test]
    fn nested_structs_are_collected() {
        let json: Value = serde_json::from_str(
            r#"{ "apiKey": 99, "type": "request", "name": "XRequest", "validVersions": "0-2",
                 "flexibleVersions": "1+", "fields": [
                   { "name": "Items", "type": "[]Item", "versions": "0+", "fields": [
                     { "name": "Id", "type": "int32", "versions": "0+" },
                     { "name": "Note", "type": "string", "versions": "2+", "nullableVersions": "2+",
                       "default": "null", "taggedVersions": "2+", "tag": "0" }
                   ]}
                 ]}"#,
        )
        .expect("valid json");
        let schema = parse_schema(&json).expect("parses");
        assert_eq!(schema.structs.len(), 2);
        assert_eq!(schema.structs[1].name, "Item");
        let note = &schema.structs[1].fields[1];
        assert_eq!(note.tag, Some(0));
        assert_eq!(note.inline_versions().map(Versions::is_empty), Ok(true));
    }
}
