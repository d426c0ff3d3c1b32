//! Project tasks. `cargo run -p xtask -- codegen [--schemas DIR]` generates
//! the Kafka protocol codec in `src/protocol/` from the JSON message schemas
//! (default `../shared/kafka-protocol`, relative to the repository root), and
//! the request dispatch in `src/api/dispatch.rs` from the same API list.

mod apis;
mod codegen;
mod dispatch;
mod schema;

use codegen::{ApiSchemas, TopLevel};
use schema::Schema;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: cargo run -p xtask -- codegen [--schemas DIR] [--check]";

fn run(args: &[String]) -> Result<(), String> {
    let repo_root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("xtask has no parent directory")?
        .to_path_buf();
    match args.first().map(String::as_str) {
        Some("codegen") => {
            let mut schemas = repo_root.join("../shared/kafka-protocol");
            let mut check = false;
            let mut rest = args[1..].iter();
            while let Some(arg) = rest.next() {
                match arg.as_str() {
                    "--schemas" => {
                        let dir = rest.next().ok_or(USAGE)?;
                        schemas = PathBuf::from(dir);
                    }
                    "--check" => check = true,
                    other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
                }
            }
            if check {
                check_up_to_date(&repo_root, &schemas)
            } else {
                let written = codegen(&repo_root, &schemas)?;
                println!(
                    "generated {} files in {}",
                    written.len(),
                    repo_root.join("src/protocol").display()
                );
                Ok(())
            }
        }
        _ => Err(USAGE.to_string()),
    }
}

fn module_name(schema_name: &str) -> String {
    codegen::snake_case(schema_name)
}

/// Writes `text` to `path`, remembering it for rustfmt.
fn write(path: &Path, text: &str, written: &mut Vec<PathBuf>) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    written.push(path.to_path_buf());
    Ok(())
}

/// Removes previously generated files (those starting with our header).
fn clean_generated(dir: &Path) -> Result<(), String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if text.starts_with(GENERATED_MARKER) {
                std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
    }
    Ok(())
}

/// Generates into a scratch copy and compares it with the committed files.
fn check_up_to_date(repo_root: &Path, schema_dir: &Path) -> Result<(), String> {
    let scratch = std::env::temp_dir().join(format!("sluice-codegen-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let result = (|| {
        let written = codegen(&scratch, schema_dir)?;
        let mut stale = Vec::new();
        for path in &written {
            let rel = path.strip_prefix(&scratch).map_err(|e| e.to_string())?;
            let fresh = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
            let committed = std::fs::read_to_string(repo_root.join(rel)).unwrap_or_default();
            if fresh != committed {
                stale.push(rel.display().to_string());
            }
        }
        // Generated files that the generator no longer writes.
        for dir in ["src/protocol/messages", "src/protocol/messages/metadata"] {
            for entry in std::fs::read_dir(repo_root.join(dir))
                .into_iter()
                .flatten()
                .flatten()
            {
                let rel = Path::new(dir).join(entry.file_name());
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                if text.starts_with(GENERATED_MARKER) && !scratch.join(&rel).exists() {
                    stale.push(format!("{} (no longer generated)", rel.display()));
                }
            }
        }
        if stale.is_empty() {
            println!("generated code is up to date ({} files)", written.len());
            Ok(())
        } else {
            Err(format!(
                "generated code is out of date; run `cargo run -p xtask -- codegen`:\n  {}",
                stale.join("\n  ")
            ))
        }
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

const GENERATED_MARKER: &str = "// Generated by `cargo run -p xtask -- codegen`";

/// Generates the codec under `<root>/src/protocol`; returns the files written.
fn codegen(repo_root: &Path, schema_dir: &Path) -> Result<Vec<PathBuf>, String> {
    let message_dir = schema_dir.join("message");
    let metadata_dir = schema_dir.join("metadata");
    if !message_dir.is_dir() {
        return Err(format!(
            "{} is not a directory (pass --schemas DIR)",
            message_dir.display()
        ));
    }
    let protocol_dir = repo_root.join("src/protocol");
    let messages_dir = protocol_dir.join("messages");
    let records_dir = messages_dir.join("metadata");
    std::fs::create_dir_all(&records_dir).map_err(|e| e.to_string())?;
    clean_generated(&messages_dir)?;
    clean_generated(&records_dir)?;

    let mut written = Vec::new();
    let mut modules: Vec<(String, String)> = Vec::new(); // (module, type)

    // Request and response headers, and the KRaft control records.
    let headers = ["RequestHeader", "ResponseHeader"];
    for name in headers.iter().chain(apis::RAFT_CONTROL_RECORDS) {
        let name = *name;
        let file = format!("message/{name}.json");
        let schema = schema::load(&schema_dir.join(&file))?;
        let top = TopLevel {
            api_key: None,
            min_version: schema.valid.lo,
            max_version: schema.valid.hi,
            doc: format!(
                "`{name}`, versions {}-{}.",
                schema.valid.lo, schema.valid.hi
            ),
        };
        let module = module_name(name);
        let text = codegen::gen_module(&schema, &top, &file)?;
        write(
            &messages_dir.join(format!("{module}.rs")),
            &text,
            &mut written,
        )?;
        modules.push((module, name.to_string()));
    }

    // API requests and responses.
    let mut loaded: Vec<(Schema, Schema)> = Vec::new();
    for api in apis::APIS {
        let mut pair = Vec::new();
        for (suffix, kind) in [("Request", "request"), ("Response", "response")] {
            let name = format!("{}{suffix}", api.name);
            let file = format!("message/{name}.json");
            let schema = schema::load(&schema_dir.join(&file))?;
            if schema.api_key != Some(api.key) || schema.kind != kind {
                return Err(format!(
                    "{file}: expected a {kind} with apiKey {}, found {} {:?}",
                    api.key, schema.kind, schema.api_key
                ));
            }
            for (what, lo, hi) in [
                ("advertised", api.advertised_min, api.advertised_max),
                ("decode", api.decode_min, api.decode_max),
            ] {
                if lo > hi || !schema.valid.contains(lo) || !schema.valid.contains(hi) {
                    return Err(format!(
                        "{}: {what} range {lo}-{hi} is outside validVersions {:?}",
                        api.name, schema.valid
                    ));
                }
            }
            let top = TopLevel {
                api_key: Some(api.key),
                min_version: api.decode_min,
                max_version: api.decode_max,
                doc: format!(
                    "`{name}` (API key {}): decoded in versions {}-{} (schema versions {}-{}).",
                    api.key, api.decode_min, api.decode_max, schema.valid.lo, schema.valid.hi
                ),
            };
            let module = module_name(&name);
            let text = codegen::gen_module(&schema, &top, &file)?;
            write(
                &messages_dir.join(format!("{module}.rs")),
                &text,
                &mut written,
            )?;
            modules.push((module, name));
            pair.push(schema);
        }
        let response = pair.pop().ok_or("missing response")?;
        let request = pair.pop().ok_or("missing request")?;
        loaded.push((request, response));
    }

    // KRaft metadata records.
    // Records we do not generate may fail to parse without harm.
    let mut by_name: BTreeMap<String, Result<(Schema, String), String>> = BTreeMap::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&metadata_dir)
        .map_err(|e| format!("{}: {e}", metadata_dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    entries.sort();
    for path in entries {
        let file = format!(
            "metadata/{}",
            path.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default()
        );
        let stem = path
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match schema::load(&path) {
            Ok(schema) => by_name.insert(schema.name.clone(), Ok((schema, file))),
            Err(e) => by_name.insert(stem, Err(e)),
        };
    }
    let mut record_modules: Vec<(String, String)> = Vec::new();
    let mut record_types: Vec<(String, i16)> = Vec::new();
    for name in apis::METADATA_RECORDS {
        let (schema, file) = by_name
            .get(*name)
            .ok_or_else(|| format!("no metadata record schema named {name}"))?
            .as_ref()
            .map_err(Clone::clone)?;
        let top = TopLevel {
            api_key: schema.api_key,
            min_version: schema.valid.lo,
            max_version: schema.valid.hi,
            doc: format!(
                "`{name}` (KRaft metadata record type {}), versions {}-{}.",
                schema.api_key.unwrap_or(-1),
                schema.valid.lo,
                schema.valid.hi
            ),
        };
        let module = module_name(name);
        let text = codegen::gen_module(schema, &top, file)?;
        write(
            &records_dir.join(format!("{module}.rs")),
            &text,
            &mut written,
        )?;
        record_modules.push((module, name.to_string()));
        record_types.push((
            name.to_string(),
            schema.api_key.ok_or_else(|| format!("{file}: no apiKey"))?,
        ));
    }

    // mod.rs files.
    modules.sort();
    record_modules.sort();
    let mut m = String::from(codegen::HEADER);
    m.push_str(
        "\n//! Generated Kafka protocol message types, one module per message.\n\n\
         // Decoders start from the schema defaults and assign the fields present in the version.\n\
         #![allow(clippy::field_reassign_with_default)]\n\npub mod metadata;\n",
    );
    for (module, _) in &modules {
        m.push_str(&format!("pub mod {module};\n"));
    }
    m.push('\n');
    for (module, ty) in &modules {
        m.push_str(&format!("pub use {module}::{ty};\n"));
    }
    write(&messages_dir.join("mod.rs"), &m, &mut written)?;

    let mut m = String::from(codegen::HEADER);
    m.push_str("\n//! Generated KRaft metadata record types.\n\n");
    for (module, _) in &record_modules {
        m.push_str(&format!("pub mod {module};\n"));
    }
    m.push('\n');
    for (module, ty) in &record_modules {
        m.push_str(&format!("pub use {module}::{ty};\n"));
    }
    m.push('\n');
    m.push_str(&codegen::gen_record_enum(&record_types));
    write(&records_dir.join("mod.rs"), &m, &mut written)?;

    // API table.
    let api_schemas: Vec<ApiSchemas> = apis::APIS
        .iter()
        .zip(&loaded)
        .map(|(api, (request, response))| ApiSchemas {
            api,
            request,
            response,
        })
        .collect();
    let table = codegen::gen_api_table(&api_schemas);
    write(&protocol_dir.join("api_table.rs"), &table, &mut written)?;

    // Request bodies by API, and the dispatch from a body to its handler in `src/api/`.
    let generic: Vec<String> = api_schemas
        .iter()
        .filter(|a| codegen::records_generic(a.response).contains(&a.response.name))
        .map(|a| a.response.name.clone())
        .collect();
    let bodies = dispatch::gen_bodies(apis::APIS, &generic);
    write(&protocol_dir.join("body.rs"), &bodies, &mut written)?;
    let api_dir = repo_root.join("src/api");
    std::fs::create_dir_all(&api_dir).map_err(|e| e.to_string())?;
    let handlers = dispatch::gen_dispatch(apis::APIS);
    write(&api_dir.join("dispatch.rs"), &handlers, &mut written)?;

    // Format.
    let status = Command::new("rustfmt")
        .args(["--edition", "2021"])
        .args(&written)
        .status()
        .map_err(|e| format!("running rustfmt: {e}"))?;
    if !status.success() {
        return Err(format!("rustfmt failed: {status}"));
    }
    Ok(written)
}
