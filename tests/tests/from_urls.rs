//! Mosaics from COG URLs: local paths and http(s) through GDAL's /vsicurl/ (served by a
//! local range server), unreadable URLs reported, mixed data types refused, `update`.

use std::process::Command;

use mosaic::TileMatrixSet;
use mosaic::dataset::{dataset_info, get_footprints};
use mosaic_integration_tests::{mosaic_bin, read_json, refdata, serve_dir};

#[test]
fn http_urls_read_like_local_files() {
    let base = serve_dir(refdata());
    let tms = TileMatrixSet::web_mercator();
    let manifest = read_json("cogs/manifest.json");
    for f in manifest["files"].as_array().unwrap().iter().take(4) {
        let rel = f["path"].as_str().unwrap();
        let local = dataset_info(refdata().join(rel).to_str().unwrap(), &tms).unwrap();
        let remote = dataset_info(&format!("{base}/{rel}"), &tms).unwrap();
        assert_eq!(
            (local.bounds, local.minzoom, local.maxzoom, &local.datatype),
            (
                remote.bounds,
                remote.minzoom,
                remote.maxzoom,
                &remote.datatype
            )
        );
    }
    // A 404 and a refused connection are per-URL errors naming the URL, not panics.
    let results = get_footprints(
        &[
            format!("{base}/cogs/nope.tif"),
            "http://127.0.0.1:9/x.tif".into(),
        ],
        &tms,
        2,
        None,
    );
    for r in results {
        match r {
            Err(mosaic::Error::Dataset { path, .. }) => assert!(path.ends_with(".tif")),
            other => panic!("expected a dataset error, got {other:?}"),
        }
    }
}

fn mosaic(args: &[&str], stdin: Option<&str>) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(mosaic_bin())
        .args(args)
        .current_dir(refdata())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().unwrap()
}

#[test]
fn unreadable_urls_warn_or_fail_with_strict() {
    let list = "cogs/rgb_01.tif\n\ncogs/missing.tif\ncogs/rgb_02.tif\n";
    let out = mosaic(&["create", "-q"], Some(list));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("cogs/missing.tif"));
    let doc = mosaic::MosaicJson::from_slice(&out.stdout).unwrap();
    let assets: std::collections::HashSet<&String> = doc.tiles.values().flatten().collect();
    assert_eq!(assets.len(), 2);
    let strict = mosaic(&["create", "-q", "--strict"], Some(list));
    assert!(!strict.status.success());
    assert!(strict.stdout.is_empty());
    // Mixed data types are refused with a typed message.
    let mixed = mosaic(
        &["create", "-q"],
        Some("cogs/rgb_01.tif\ncogs/u16_01.tif\n"),
    );
    assert!(!mixed.status.success());
    assert!(String::from_utf8_lossy(&mixed.stderr).contains("multiple data types"));
}

#[test]
fn update_adds_first_or_last_and_bumps_version() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("m.json");
    let p = path.to_str().unwrap();
    let first = tmp.path().join("first.txt");
    std::fs::write(&first, "cogs/rgb_01.tif\n").unwrap();
    let second = tmp.path().join("second.txt");
    std::fs::write(&second, "cogs/rgb_02.tif\n").unwrap();
    let third = tmp.path().join("third.txt");
    std::fs::write(&third, "cogs/rgb_03.tif\n").unwrap();
    assert!(
        mosaic(
            &[
                "create",
                "-q",
                "--minzoom",
                "9",
                "--maxzoom",
                "14",
                "-o",
                p,
                first.to_str().unwrap()
            ],
            None
        )
        .status
        .success()
    );
    let out = mosaic(&["update", "-q", second.to_str().unwrap(), p], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = mosaic(
        &["update", "-q", "--add-last", third.to_str().unwrap(), p],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = mosaic::MosaicJson::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(doc.version, "1.0.2");
    let shared: Vec<&Vec<String>> = doc.tiles.values().filter(|v| v.len() == 3).collect();
    assert!(!shared.is_empty(), "some tile holds all three");
    for v in shared {
        assert_eq!(
            v,
            &vec![
                "cogs/rgb_02.tif".to_string(),
                "cogs/rgb_01.tif".into(),
                "cogs/rgb_03.tif".into()
            ]
        );
    }
}
