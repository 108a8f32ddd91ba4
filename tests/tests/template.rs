//! The SAM stack (`template.yaml`): lint-clean for cfn-lint and `sam validate --lint` (no
//! warnings either), every variable a function reads is set for it by the template (or is
//! on the short list below of variables left to the code's default on purpose), every
//! variable the template sets is one something reads, and every AWS API the code calls has
//! its IAM action in the calling function's policy.
//!
//! The tools come from `bash infra/tools.sh` (`target/tools/venv`, or `$MOSAIC_TOOLS_VENV`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The tools venv's `bin/`; panics with the command that installs it.
fn tool(name: &str) -> PathBuf {
    let venv = std::env::var_os("MOSAIC_TOOLS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/tools/venv"));
    let path = venv.join("bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `bash infra/tools.sh` (scripts/test.sh does)",
        path.display()
    );
    path
}

fn run_ok(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    // cfn-lint exits 0 only without errors *and* warnings; sam prints its lint result.
    assert!(
        !text.contains("[W") && !text.contains("Warning"),
        "{cmd:?} warned:\n{text}"
    );
}

#[test]
fn sam_template_passes_cfn_lint() {
    run_ok(Command::new(tool("cfn-lint")).arg(workspace().join("template.yaml")));
}

#[test]
fn sam_template_passes_sam_validate_lint() {
    run_ok(
        Command::new(tool("sam"))
            .args(["validate", "--lint", "--template-file"])
            .arg(workspace().join("template.yaml"))
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("SAM_CLI_TELEMETRY", "0"),
    );
}

/// Per function (by binary name): the variables and IAM actions the template gives it.
#[derive(Debug, serde::Deserialize)]
struct Facts {
    functions: BTreeMap<String, FunctionFacts>,
}

#[derive(Debug, serde::Deserialize)]
struct FunctionFacts {
    env: BTreeSet<String>,
    actions: BTreeSet<String>,
}

fn facts() -> Facts {
    let out = Command::new(tool("python"))
        .arg(workspace().join("tests/scripts/template_facts.py"))
        .arg(workspace().join("template.yaml"))
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "template_facts.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("template facts JSON")
}

/// Names `PREFIX…` in `text` as `"NAME"` (Rust string literals); a bare prefix (`"MOSAIC_"`,
/// as the settings snapshot uses) is not a name.
fn quoted_names(text: &str, prefixes: &[&str]) -> BTreeSet<String> {
    let is_name_char = |c: char| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_';
    let mut out = BTreeSet::new();
    for (start, _) in text.match_indices('"') {
        let rest = &text[start + 1..];
        let end = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
        let name = &rest[..end];
        if rest[end..].starts_with('"')
            && !name.ends_with('_')
            && prefixes.iter().any(|p| name.starts_with(p))
        {
            out.insert(name.to_owned());
        }
    }
    out
}

/// The Rust sources under `dir` (recursively), skipping `skip` sub-directories.
fn rust_sources(dir: &Path, skip: &[&str], out: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if !skip.iter().any(|s| path.ends_with(s)) {
                rust_sources(&path, skip, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
}

const OUR_PREFIXES: &[&str] = &["MOSAIC_", "COGEO_MOSAIC_", "TITILER_"];

/// Variables a function reads that the template leaves to the code's default on purpose.
const LEFT_TO_DEFAULTS: &[(&str, &str)] = &[
    ("MOSAIC_DEMO_DIR", "the local demo server only"),
    (
        "MOSAIC_ALLOW_PRIVATE_NETWORKS",
        "development against loopback services; off in Lambda",
    ),
    (
        "MOSAIC_EGRESS_PROXY",
        "the egress check stays on; `false` only to debug",
    ),
    (
        "MOSAIC_PUBLIC_URL",
        "URLs come from the request unless a proxy hides it",
    ),
    (
        "MOSAIC_MAX_INFLIGHT",
        "derived from the function's memory at start",
    ),
    (
        "MOSAIC_QUEUE_TIMEOUT_MS",
        "admission wait; the default suits API Gateway's 30 s",
    ),
    (
        "MOSAIC_ADD_FIRST",
        "ingest appends, as cogeo-mosaic's update does",
    ),
    (
        "MOSAIC_LOG_FORMAT",
        "logs are JSON in Lambda already (AWS_LAMBDA_FUNCTION_NAME); this is for local runs",
    ),
    (
        "TITILER_DEFAULT_ATTRIBUTION",
        "no attribution unless the operator adds one",
    ),
    (
        "MOSAIC_BASEMAP_URL",
        "the viewer has no third-party basemap unless the operator picks one",
    ),
    ("MOSAIC_BASEMAP_ATTRIBUTION", "goes with MOSAIC_BASEMAP_URL"),
];

/// The variables each function reads: its own crate's, and the library's (not the CLI's).
fn read_by(function: &str) -> BTreeSet<String> {
    let mut code = String::new();
    rust_sources(
        &workspace().join("functions").join(function).join("src"),
        &[],
        &mut code,
    );
    rust_sources(&workspace().join("shared/src"), &["cli"], &mut code);
    quoted_names(&code, OUR_PREFIXES)
}

#[test]
fn every_variable_a_function_reads_is_set_by_the_template() {
    let facts = facts();
    let defaulted: BTreeSet<&str> = LEFT_TO_DEFAULTS.iter().map(|(n, _)| *n).collect();
    for function in ["tiler", "ingest", "stac-mosaic"] {
        let set = &facts.functions[function].env;
        let missing: Vec<String> = read_by(function)
            .into_iter()
            .filter(|v| !set.contains(v) && !defaulted.contains(v.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "{function} reads {missing:?}, which template.yaml does not set \
             (set it, or add it to LEFT_TO_DEFAULTS with the reason)"
        );
    }
}

#[test]
fn every_variable_the_template_sets_is_read() {
    let facts = facts();
    // GDAL, curl and the AWS SDKs read their own variables; ours must exist in the code.
    for (function, f) in &facts.functions {
        let read = read_by(function);
        let unknown: Vec<&String> = f
            .env
            .iter()
            .filter(|v| OUR_PREFIXES.iter().any(|p| v.starts_with(p)) && !read.contains(*v))
            .collect();
        assert!(
            unknown.is_empty(),
            "template.yaml sets {unknown:?} for {function}, which reads no such variable"
        );
    }
}

/// `batch_write_item` → `BatchWriteItem`.
fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// DynamoDB operations called (`.operation()` on the SDK client) in the given files of
/// `shared/src/backend/dynamodb/`.
fn dynamodb_calls(files: &[&str]) -> BTreeSet<String> {
    const OPERATIONS: &[&str] = &[
        "batch_get_item",
        "batch_write_item",
        "create_table",
        "delete_item",
        "describe_table",
        "get_item",
        "put_item",
        "query",
        "scan",
        "transact_write_items",
        "update_item",
    ];
    let dir = workspace().join("shared/src/backend/dynamodb");
    let mut out = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        for op in OPERATIONS {
            if text.contains(&format!(".{op}()")) {
                out.insert(format!("dynamodb:{}", pascal(op)));
            }
        }
    }
    out
}

#[test]
fn every_aws_api_the_code_calls_is_in_the_function_policy() {
    let dir = workspace().join("shared/src/backend/dynamodb");
    let all: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".rs") && n != "tests.rs")
        .collect();
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    // Which modules each function's code paths reach: the tiler reads (documents, tile
    // look-ups, listing mosaics); ingest edits an existing index; stac-mosaic writes
    // whole mosaics (creating the table like cogeo-mosaic when it is missing).
    let reaches: [(&str, Vec<&str>, &[&str]); 3] = [
        (
            "tiler",
            vec!["read.rs", "mod.rs"],
            &["s3:GetObject", "s3:ListBucket", "dynamodb:BatchGetItem"],
        ),
        (
            "ingest",
            vec!["read.rs", "mod.rs", "batch.rs", "index.rs", "lease.rs"],
            &["s3:GetObject"],
        ),
        (
            "stac-mosaic",
            all.clone(),
            &["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
        ),
    ];
    let facts = facts();
    for (function, files, extra) in reaches {
        let granted = &facts.functions[function].actions;
        let mut needed = dynamodb_calls(&files);
        // `mod.rs` lists mosaics with a scan; only the tiler and stac-mosaic list.
        if function == "ingest" {
            needed.remove("dynamodb:Scan");
        }
        needed.extend(extra.iter().map(|s| s.to_string()));
        let missing: Vec<&String> = needed.difference(granted).collect();
        assert!(
            missing.is_empty(),
            "{function} calls {missing:?}, not allowed by its policy in template.yaml \
             (granted: {granted:?})"
        );
    }
    // Least privilege: nothing reads and writes everything.
    for (function, f) in &facts.functions {
        assert!(
            !f.actions.iter().any(|a| a.ends_with(":*")),
            "{function} has a wildcard action: {:?}",
            f.actions
        );
    }
}

#[test]
fn localstack_definitions_validate() {
    let dir = workspace().join("infra/localstack");
    // docker-compose validates offline (no daemon needed); infra/install-deps.sh installs it.
    let out = Command::new("docker-compose")
        .arg("-f")
        .arg(dir.join("docker-compose.yml"))
        .args(["config", "-q"])
        .output()
        .expect("docker-compose (bash infra/install-deps.sh --browser installs it)");
    assert!(
        out.status.success(),
        "docker-compose config: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let compose = std::fs::read_to_string(dir.join("docker-compose.yml")).unwrap();
    assert!(
        compose.contains("localstack/localstack:4."),
        "pinned to a 4.x tag"
    );
    let hooks: Vec<PathBuf> = std::fs::read_dir(dir.join("init/ready.d"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sh"))
        .collect();
    assert!(!hooks.is_empty(), "no ready.d hooks");
    for hook in hooks {
        let out = Command::new("bash").arg("-n").arg(&hook).output().unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            hook.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
