//! The local server's log lines as a pipe or a log collector reads them: plain text without
//! terminal colour codes when stderr is not a terminal, one JSON object per line with
//! `MOSAIC_LOG_FORMAT=json`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// The tiler's stderr lines up to and including its `listening` line.
fn start_up_lines(json: bool) -> Vec<String> {
    let tmp = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tiler"));
    cmd.env("PORT", port.to_string())
        .env("MOSAIC_DEMO_DIR", tmp.path().join("demo"))
        .env("RUST_LOG", "info")
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env_remove("AWS_LAMBDA_FUNCTION_NAME")
        .env_remove("MOSAIC_LOG_FORMAT")
        .current_dir(tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if json {
        cmd.env("MOSAIC_LOG_FORMAT", "json");
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        let done = line.contains("listening on");
        lines.push(line);
        if done || lines.len() > 50 {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        lines.iter().any(|l| l.contains("listening on")),
        "no listening line: {lines:?}"
    );
    lines
}

#[test]
fn log_lines_off_a_terminal_are_plain_text_or_json() {
    for line in start_up_lines(false) {
        assert!(!line.contains('\u{1b}'), "a colour code in {line:?}");
    }
    for line in start_up_lines(true) {
        let v: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not one JSON object: {line:?}: {e}"));
        assert!(v["level"].is_string() && v["message"].is_string(), "{line}");
    }
}
