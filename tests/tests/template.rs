//! The SAM stack (`template.yaml`): valid CloudFormation by cfn-lint (installed into the
//! services venv by `infra/services.sh`), and every `MOSAIC_*` variable it sets is one a
//! function reads (a misspelt variable would be silently ignored in Lambda).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use mosaic_integration_tests::require_services;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn sam_template_passes_cfn_lint() {
    require_services();
    let lint = PathBuf::from(std::env::var("SVC_DIR").expect("SVC_DIR from the services env"))
        .join("venv/bin/cfn-lint");
    let out = std::process::Command::new(&lint)
        .arg(workspace().join("template.yaml"))
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", lint.display()));
    assert!(
        out.status.success(),
        "cfn-lint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `MOSAIC_*` names in `text`, as `NAME:` (YAML keys) or `"NAME"` (Rust strings).
fn variables(text: &str, quoted: bool) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("MOSAIC_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_uppercase() || c == '_'))
            .unwrap_or(tail.len());
        let before = rest[..i].chars().last();
        let after = tail[end..].chars().next();
        let hit = if quoted {
            before == Some('"') && after == Some('"')
        } else {
            after == Some(':')
        };
        if hit {
            out.insert(tail[..end].to_string());
        }
        rest = &tail[end..];
    }
    out
}

fn rust_sources(dir: &Path, out: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
}

#[test]
fn template_variables_are_read_by_the_functions() {
    let template = std::fs::read_to_string(workspace().join("template.yaml")).unwrap();
    let set = variables(&template, false);
    assert!(
        set.contains("MOSAIC_URI"),
        "the ingest function's index: {set:?}"
    );
    let mut code = String::new();
    for dir in ["functions", "shared/src"] {
        rust_sources(&workspace().join(dir), &mut code);
    }
    let read = variables(&code, true);
    let unknown: Vec<&String> = set.difference(&read).collect();
    assert!(
        unknown.is_empty(),
        "set by template.yaml, read by no function: {unknown:?}"
    );
}
