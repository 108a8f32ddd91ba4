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

/// A mosaic of one asset over `[-1, -1, 1, 1]` (zooms `minzoom..=minzoom + 2`) written in
/// `dir`; the asset is `asset` as given.
fn small_mosaic(dir: &std::path::Path, asset: &str, minzoom: u8) -> String {
    let doc = mosaic::MosaicJson::from_footprints(
        &[mosaic::create::Footprint::from_bbox(
            asset,
            [-1.0, -1.0, 1.0, 1.0],
        )],
        &mosaic::create::CreateOptions::new(minzoom, minzoom + 2),
    )
    .unwrap();
    let path = dir.join(format!("m{minzoom}.json"));
    std::fs::write(&path, doc.to_json_vec()).unwrap();
    path.to_string_lossy().into_owned()
}

fn words(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Numbers in exponent form, negative ones included, are values, not flags.
#[test]
fn negative_numbers_in_exponent_form_are_values() {
    let tmp = tempfile::tempdir().unwrap();
    let m = small_mosaic(tmp.path(), "a.tif", 6);
    for args in [
        vec![
            "assets",
            &m,
            "--bbox",
            "-7.105427357601002e-14",
            "-5e-1",
            "5E-1",
            "0.5",
        ],
        vec![
            "assets",
            &m,
            "--bbox",
            "-1e-3",
            "-1E-3",
            "1e-3",
            "1e-3",
            "--reverse",
        ],
        vec!["assets", &m, "--point", "-1e-3", "-2.5e-1"],
        vec!["assets", &m, "--point", "-.5", "-5."],
        vec![
            "assets",
            &m,
            "--coord-crs",
            "EPSG:3857",
            "--point",
            "-1.5e3",
            "-2e+3",
        ],
    ] {
        let out = run(&words(&args));
        assert!(out.status.success(), "{args:?}: {}", stderr_of(&out));
        let got: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(got, ["a.tif"], "{args:?}");
    }
    // Commands that read the (absent) asset: they must get past argument parsing (clap
    // exits 2 with "unexpected argument"); the read failure is ours.
    for args in [
        vec!["point", &m, "-1e-3", "-2.5e-1"],
        vec!["point", &m, "-1e-3", "-2.5e-1", "--nodata", "-1e-9"],
        vec![
            "tile",
            &m,
            "7",
            "63",
            "64",
            "--nodata",
            "-9.999e3",
            "--rescale",
            "-1e3,1e3",
        ],
        vec![
            "tile",
            &m,
            "7",
            "63",
            "64",
            "--rescale",
            "-1e3,-1e2",
            "--rescale",
            "-5e-1,5e-1",
        ],
    ] {
        let out = run(&words(&args));
        let err = stderr_of(&out);
        assert_ne!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(!err.contains("unexpected argument"), "{args:?}: {err}");
        let last = err.trim_end().lines().last().unwrap_or("");
        assert!(last.starts_with("Error: "), "{args:?}: {err}");
    }
}

/// GDAL's own messages (`ERROR 1: ...`, `ERROR 4: ...`) stay out of stderr: the one line is
/// ours, and it carries GDAL's reason.
#[test]
fn gdal_errors_are_one_line_of_ours() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.tif");
    std::fs::write(&bad, b"this is not a TIFF file\n").unwrap();
    let missing = tmp.path().join("missing.tif");
    for (asset, reason) in [
        (&bad, "not recognized as"),
        (&missing, "No such file or directory"),
    ] {
        let asset = asset.to_string_lossy().into_owned();
        let sub = tempfile::tempdir_in(tmp.path()).unwrap();
        let m = small_mosaic(sub.path(), &asset, 6);
        let list = sub.path().join("list.txt");
        std::fs::write(&list, format!("{asset}\n")).unwrap();
        let list = list.to_string_lossy().into_owned();
        let out_path = sub.path().join("out.json").to_string_lossy().into_owned();
        for args in [
            vec!["tile", &m, "7", "64", "63", "-o", &out_path],
            vec!["point", &m, "0.5", "0.5"],
            vec!["create", "--strict", "-q", "-o", &out_path, &list],
            vec!["update", "--strict", "-q", &list, &m],
        ] {
            let out = run(&words(&args));
            let err = stderr_of(&out);
            assert!(!out.status.success(), "{args:?} should fail");
            let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
            assert_eq!(lines.len(), 1, "{args:?}: one line expected, got: {err}");
            assert!(lines[0].starts_with("Error: "), "{args:?}: {err}");
            assert!(lines[0].contains(reason), "{args:?}: {err}");
            assert!(
                !err.contains("ERROR 1:") && !err.contains("ERROR 4:"),
                "{args:?}: {err}"
            );
        }
        // Not strict: one warning of ours, no GDAL line.
        let out = run(&words(&["footprint", "-q", &list]));
        let err = stderr_of(&out);
        assert!(
            !err.contains("ERROR 1:") && !err.contains("ERROR 4:"),
            "{err}"
        );
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "footprint: {err}");
        assert!(lines[0].contains(reason), "footprint: {err}");
    }
}

/// `mosaic ... | head`: a reader that goes away ends the command quietly.
#[test]
fn closed_stdout_ends_quietly() {
    use std::io::Read;
    use std::process::Stdio;
    let tmp = tempfile::tempdir().unwrap();
    // 4096 quadkeys of GeoJSON: far more than a pipe buffer holds.
    let doc = mosaic::MosaicJson::from_footprints(
        &[mosaic::create::Footprint::from_bbox(
            "a.tif",
            [-179.0, -80.0, 179.0, 80.0],
        )],
        &mosaic::create::CreateOptions::new(6, 6),
    )
    .unwrap();
    let m = tmp.path().join("big.json");
    std::fs::write(&m, doc.to_json_vec()).unwrap();
    let m = m.to_string_lossy().into_owned();
    // The same footprint at zoom 7 as a document on stdout (16384 quadkeys).
    let features = tmp.path().join("world.geojson");
    std::fs::write(
        &features,
        r#"{"type": "Feature", "properties": {"path": "a.tif"}, "geometry": {"type": "Polygon",
            "coordinates": [[[-179, -80], [179, -80], [179, 80], [-179, 80], [-179, -80]]]}}"#,
    )
    .unwrap();
    let features = features.to_string_lossy().into_owned();
    for args in [
        vec!["to-geojson", &m],
        vec!["to-geojson", &m, "--collect"],
        vec![
            "create-from-features",
            "--minzoom",
            "7",
            "--maxzoom",
            "7",
            "--property",
            "path",
            "-q",
            &features,
        ],
    ] {
        let mut child = Command::new(mosaic_bin())
            .args(&args)
            .current_dir(refdata())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run mosaic");
        let mut stdout = child.stdout.take().unwrap();
        let mut head = [0u8; 16];
        stdout.read_exact(&mut head).unwrap();
        drop(stdout);
        let out = child.wait_with_output().unwrap();
        let err = stderr_of(&out);
        assert!(!err.contains("Broken pipe"), "{args:?}: {err}");
        assert!(err.trim().is_empty(), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
}
