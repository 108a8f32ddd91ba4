//! The `mosaic` CLI end to end: every command of the reference set's `cli/manifest.json`
//! run with our binary (from the set directory, outputs redirected to a temp dir), and
//! the error paths (message on stderr, non-zero exit, nothing written).

use std::process::{Command, Output};

use mosaic_integration_tests::{mosaic_bin, read_bytes, read_json, refdata};
use serde_json::Value;

/// Splits a shell command line (single and double quotes, no escapes needed here).
fn shell_words(line: &str) -> Vec<String> {
    let (mut words, mut cur, mut quote, mut any) = (Vec::new(), String::new(), None, false);
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true
            }
            (None, ' ') => {
                if !cur.is_empty() || any {
                    words.push(std::mem::take(&mut cur));
                }
                any = false
            }
            (None, c) => cur.push(c),
        }
    }
    if !cur.is_empty() || any {
        words.push(cur);
    }
    words
}

fn run(args: &[String]) -> Output {
    Command::new(mosaic_bin())
        .args(args)
        .current_dir(refdata())
        .output()
        .expect("run mosaic")
}

fn parse_json_or_lines(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|_| {
        Value::Array(
            bytes
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|l| serde_json::from_slice(l).unwrap())
                .collect(),
        )
    })
}

#[test]
fn manifest_commands_match_reference_outputs() {
    let manifest = read_json("cli/manifest.json");
    let tmp = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for entry in manifest["cli"].as_array().unwrap() {
        let line = entry["command"].as_str().unwrap();
        let mut args = shell_words(line);
        assert_eq!(args.remove(0), "cogeo-mosaic");
        // Never write into the reference set: -o goes to the temp dir.
        let mut written = None;
        if let Some(i) = args.iter().position(|a| a == "-o" || a == "--output") {
            let out = tmp.path().join(args[i + 1].replace('/', "_"));
            written = Some(out.clone());
            args[i + 1] = out.to_string_lossy().to_string();
        }
        let out = run(&args);
        let code = entry["returncode"].as_i64().unwrap_or(0);
        assert_eq!(
            out.status.code().map(i64::from),
            Some(code),
            "{line}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if let Some(stdout_file) = entry["stdout"].as_str() {
            let expected = read_bytes(stdout_file);
            if stdout_file.ends_with(".txt") {
                assert_eq!(
                    String::from_utf8_lossy(&out.stdout).trim_end(),
                    String::from_utf8_lossy(&expected).trim_end(),
                    "{line}"
                );
            } else {
                assert_eq!(
                    parse_json_or_lines(&out.stdout),
                    parse_json_or_lines(&expected),
                    "{line}"
                );
            }
        }
        if let (Some(expected_file), Some(path)) = (entry["output_file"].as_str(), written) {
            let ours = mosaic::MosaicJson::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let theirs = mosaic::MosaicJson::from_slice(&read_bytes(expected_file)).unwrap();
            assert_eq!(ours, theirs, "{line}");
            assert_eq!(
                std::fs::read(&path).unwrap().starts_with(&[0x1f, 0x8b]),
                expected_file.ends_with(".gz")
            );
        }
        for w in entry["warnings"].as_array().into_iter().flatten() {
            let w = w.as_str().unwrap().trim_start_matches("UserWarning: ");
            assert!(
                String::from_utf8_lossy(&out.stderr).contains(w),
                "{line}: missing warning {w}"
            );
        }
        checked += 1;
    }
    assert!(checked > 0);
}

#[test]
fn assets_and_info_json() {
    let out = run(&shell_words(
        "assets mosaics/cog_rgb__default.json --point 14.7 45.2",
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!got.is_empty());
    let rev = run(&shell_words(
        "assets mosaics/cog_rgb__default.json --point 14.7 45.2 --reverse",
    ));
    let mut rgot: Vec<String> = serde_json::from_slice(&rev.stdout).unwrap();
    rgot.reverse();
    assert_eq!(got, rgot);
    let tile = run(&shell_words(
        "assets mosaics/cog_rgb__default.json --tile 0 0 0",
    ));
    let all: Vec<String> = serde_json::from_slice(&tile.stdout).unwrap();
    assert!(got.iter().all(|a| all.contains(a)));
    let bbox = run(&shell_words(
        "assets mosaics/cog_rgb__default.json --bbox -180 -85 180 85",
    ));
    let in_bbox: Vec<String> = serde_json::from_slice(&bbox.stdout).unwrap();
    assert_eq!(in_bbox.len(), all.len());
}

#[test]
fn errors_exit_non_zero_with_one_line_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out_path = tmp.path().join("never.json");
    let out_arg = out_path.to_string_lossy().to_string();
    for line in [
        "info does/not/exist.json".to_string(),
        "info ftp://host/x.json".to_string(),
        "info s3://bucket/key.json".to_string(),
        "assets mosaics/cog_rgb__default.json --tile 40 0 0".to_string(),
        format!(
            "create-from-features --minzoom 7 --maxzoom 12 --property nope -o {out_arg} footprints/fp_100.geojson"
        ),
        format!(
            "create-from-features --minzoom 7 --maxzoom 12 --property path --min-tile-cover 2 -o {out_arg} footprints/fp_100.geojson"
        ),
        format!(
            "create-from-features --minzoom 7 --maxzoom 12 --property path --tms WorldCRS84Quad -o {out_arg} footprints/fp_100.geojson"
        ),
        format!("create --strict -o {out_arg} cogs/manifest.json"),
        format!("upload --url {out_arg} footprints/fp_100.geojson"),
        "upload --url https://example.com/m.json mosaics/cog_rgb__default.json".to_string(),
    ] {
        let out = run(&shell_words(&line));
        assert!(!out.status.success(), "{line} should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.trim_end().lines().last().unwrap_or("");
        assert!(last.starts_with("Error: "), "{line}: {err}");
        assert!(!out_path.exists(), "{line} wrote a file");
    }
}

#[test]
fn create_refuses_nothing_but_overwrites_with_o_and_writes_gzip() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("m.json.gz");
    let line = format!(
        "create-from-features --minzoom 7 --maxzoom 12 --property path -q -o {} footprints/fp_100.geojson",
        out.display()
    );
    for _ in 0..2 {
        let o = run(&shell_words(&line));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let doc = mosaic::MosaicJson::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let reference =
        mosaic::MosaicJson::from_slice(&read_bytes("mosaics/fp_100__z7_12.json")).unwrap();
    assert_eq!(doc, reference);
}
