//! `scripts/serve.sh` says what it is doing before the long first build and lets cargo show
//! its progress (a newcomer must not face a silent terminal for minutes). `cargo` is replaced
//! by a recorder on `PATH` here: the script's own words and the command it runs are what is
//! checked; the server itself is checked by the tiler's tests and the newcomer run.

use std::path::PathBuf;

#[test]
fn serve_announces_the_build_and_shows_progress() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let bin = tempfile::tempdir().unwrap();
    let record = bin.path().join("args");
    let fake = bin.path().join("cargo");
    std::fs::write(
        &fake,
        format!("#!/bin/sh\necho \"$@\" > {}\n", record.display()),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let target = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("bash")
        .arg(root.join("scripts/serve.sh"))
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.path().display(),
                std::env::var("PATH").unwrap()
            ),
        )
        .env("CARGO_TARGET_DIR", target.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let first = stderr.lines().next().unwrap_or("");
    assert!(
        first.starts_with("[serve] first run: building") && first.contains("minutes"),
        "first line: {first}"
    );
    let args = std::fs::read_to_string(&record).unwrap();
    assert!(args.starts_with("run --release -p tiler"), "{args}");
    assert!(
        !args.contains("-q"),
        "the build must show its progress: {args}"
    );
}
