//! Rendering parity with rio-tiler: every render of the reference set's `renders/manifest.json`
//! is rendered with our GDAL engine and compared with the reference arrays. Masks must agree
//! on ≥ 99.5 % of the values and data on ≥ 99 % of the values valid in both.

use std::sync::Arc;

use mosaic::backend::memory::MemoryBackend;
use mosaic::index::LookupOptions;
use mosaic::render::encode::{ImageFormat, RenderOptions, render_image};
use mosaic::render::{PixelSelection, TileOptions, render_tile};
use mosaic::{MosaicJson, Tile, TileMatrixSet};
use mosaic_integration_tests::{Npy, parse_npy, read_bytes, read_json, refdata};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renders_match_rio_tiler() {
    let manifest = read_json("renders/manifest.json");
    let records = manifest["renders"].as_array().expect("renders");
    let tms = TileMatrixSet::web_mercator();
    let mut worst_mask: f64 = 1.0;
    let mut worst_values: f64 = 1.0;
    let mut png_worst: f64 = 1.0;
    let mut failures = Vec::new();
    let mut compared = 0;
    for rec in records {
        let mut doc = MosaicJson::from_slice(&read_bytes(rec["mosaic"].as_str().unwrap())).unwrap();
        // Asset paths in the documents are relative to the set directory.
        doc.asset_prefix = Some(format!("{}/", refdata().display()));
        let backend = Arc::new(MemoryBackend::new(doc).unwrap());
        let t = &rec["tile"];
        let tile = Tile::new(
            t["x"].as_u64().unwrap(),
            t["y"].as_u64().unwrap(),
            t["z"].as_u64().unwrap() as u8,
        );
        let mut opts = TileOptions {
            pixel_selection: rec["pixel_selection"].as_str().unwrap().parse().unwrap(),
            ..Default::default()
        };
        opts.read.tilesize = rec["tilesize"].as_u64().unwrap_or(256) as usize;
        opts.read.indexes = rec["indexes"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_u64().unwrap() as usize).collect());
        let label = format!(
            "{} {}",
            rec["call"].as_str().unwrap_or(""),
            rec["pixel_selection"]
        );
        let result = render_tile(
            backend.as_ref(),
            &tms,
            tile,
            &LookupOptions::default(),
            &opts,
        )
        .await;
        if let Some(err) = rec["error"].as_str() {
            let ok = matches!(
                (&result, err.split(':').next().unwrap()),
                (Err(mosaic::Error::EmptyMosaic(_)), "EmptyMosaicError")
                    | (Err(mosaic::Error::NoAssets(_)), "NoAssetFoundError")
            );
            if !ok {
                failures.push(format!(
                    "{label}: expected {err}, got {:?}",
                    result.as_ref().err()
                ));
            }
            continue;
        }
        let out = match result {
            Ok(o) => o,
            Err(e) => {
                failures.push(format!("{label}: {e}"));
                continue;
            }
        };
        let data = parse_npy(&read_bytes(rec["files"]["data"].as_str().unwrap()));
        let mask = parse_npy(&read_bytes(rec["files"]["mask"].as_str().unwrap()));
        let img = &out.image;
        assert_eq!(
            data.shape,
            vec![img.bands, img.height, img.width],
            "{label}: shape"
        );
        assert_eq!(
            img.dtype.name(),
            rec["dtype"].as_str().unwrap(),
            "{label}: dtype"
        );
        let (mask_ratio, value_ratio, both_valid) =
            agreement(&data, &mask, &img.data, &img.mask, img.dtype.is_float());
        worst_mask = worst_mask.min(mask_ratio);
        worst_values = worst_values.min(value_ratio);
        eprintln!(
            "{label}: mask {:.3}% values {:.3}% ({} valid)",
            mask_ratio * 100.0,
            value_ratio * 100.0,
            both_valid
        );
        if mask_ratio < 0.995 || value_ratio < 0.99 {
            failures.push(format!(
                "{label}: mask {mask_ratio:.4}, values {value_ratio:.4}"
            ));
        }
        // The PNG as rio-tiler renders it (floats rescaled with the manifest's in_range first).
        if let Some(png_path) = rec["files"]["png"].as_str() {
            let ranges: Vec<(f64, f64)> = rec["png"]["rescale"]["in_range"]
                .as_array()
                .map(|r| {
                    r.chunks(2)
                        .map(|c| (c[0].as_f64().unwrap(), c[1].as_f64().unwrap()))
                        .collect()
                })
                .unwrap_or_default();
            let ropts = RenderOptions {
                format: Some(ImageFormat::Png),
                rescale: ranges,
                ..Default::default()
            };
            let (ours, _) = render_image(img, &ropts, out.bounds, "").unwrap();
            let ours = image::load_from_memory(&ours).unwrap();
            let theirs = image::load_from_memory(&read_bytes(png_path)).unwrap();
            let (a, b) = (ours.to_rgba16(), theirs.to_rgba16());
            let same = a.pixels().zip(b.pixels()).filter(|(p, q)| p == q).count();
            let ratio = same as f64 / a.pixels().len() as f64;
            png_worst = png_worst.min(ratio);
            if ratio < 0.99 {
                failures.push(format!("{label}: PNG pixels equal {ratio:.4}"));
            }
        }
        if opts.pixel_selection == PixelSelection::First {
            let expected: Vec<String> = rec["assets_used"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| format!("{}/{}", refdata().display(), v.as_str().unwrap()))
                .collect();
            if out.assets_used != expected {
                failures.push(format!(
                    "{label}: assets used {:?} vs {:?}",
                    out.assets_used, expected
                ));
            }
        }
        compared += 1;
    }
    eprintln!(
        "{compared} renders compared; worst mask agreement {:.3}%, worst value agreement {:.3}%",
        worst_mask * 100.0,
        worst_values * 100.0
    );
    assert!(compared > 0);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// How well a render agrees with rio-tiler's: the share of mask values that agree, the share
/// of data values equal where both are valid (floats within 1e-6 relative), and how many
/// values are valid in both. `masked[k]` is true where value `k` (band-major) is masked.
fn agreement(
    reference: &Npy,
    reference_mask: &Npy,
    data: &[f64],
    masked: &[bool],
    float: bool,
) -> (f64, f64, usize) {
    let n = reference.values.len();
    let mut mask_same = 0usize;
    let (mut both_valid, mut equal) = (0usize, 0usize);
    for k in 0..n {
        let theirs_masked = reference_mask.values[k] != 0.0;
        if theirs_masked == masked[k] {
            mask_same += 1;
        }
        if !theirs_masked && !masked[k] {
            both_valid += 1;
            let (a, b) = (data[k], reference.values[k]);
            let same = if float {
                (a - b).abs() <= 1e-6 * b.abs().max(1.0)
            } else {
                a == b
            };
            if same {
                equal += 1;
            }
        }
    }
    let value_ratio = if both_valid == 0 {
        1.0
    } else {
        equal as f64 / both_valid as f64
    };
    (mask_same as f64 / n as f64, value_ratio, both_valid)
}

/// The Lambda artifact of a function (`bash scripts/package.sh`), copied alone into an
/// empty folder. Returns the folder (keep it alive) and the binary's path.
fn artifact(function: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = std::env::var_os("MOSAIC_LAMBDA_DIR")
        .map(std::path::PathBuf::from)
        .expect("MOSAIC_LAMBDA_DIR: the artifacts' folder (bash scripts/package.sh sets it)");
    let empty = tempfile::tempdir().unwrap();
    let bin = empty.path().join("bootstrap");
    std::fs::copy(dir.join(function).join("bootstrap"), &bin).unwrap();
    (empty, bin)
}

/// Only what reaches the local S3 (moto): the artifact gets nothing else from the outside.
fn s3_environment() -> Vec<(String, String)> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("the services' env");
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut env: Vec<(String, String)> = [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ALLOW_HTTP",
    ]
    .iter()
    .filter_map(|k| Some((k.to_string(), std::env::var(k).ok()?)))
    .collect();
    // GDAL's /vsis3/ spelling of the same endpoint.
    env.push(("AWS_S3_ENDPOINT".into(), host.into()));
    env.push(("AWS_HTTPS".into(), "NO".into()));
    env.push(("AWS_VIRTUAL_HOSTING".into(), "FALSE".into()));
    env
}

/// The tiler artifact (scripts/package.sh) alone - an empty folder, an empty environment
/// but for the way to the local S3, local mode - serves every reference render from COGs
/// on a loopback HTTP server (`/vsicurl/`) and in moto S3 (`/vsis3/`), as `.npy`, agreeing
/// with rio-tiler as the development build does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Lambda artifacts: bash scripts/package.sh runs it"]
async fn tiler_artifact_alone_serves_reference_tiles() {
    use object_store::ObjectStoreExt;
    use std::io::BufRead;
    mosaic_integration_tests::require_services();
    let (folder, bin) = artifact("tiler");
    let docs = tempfile::tempdir().unwrap();
    let http = mosaic_integration_tests::serve_dir(refdata());
    let prefix = format!("s3://mosaic-test/{}", mosaic_integration_tests::run_id());
    let stores = mosaic::backend::stores::Stores::new(mosaic::settings::Settings::from_env());
    for entry in std::fs::read_dir(refdata().join("cogs")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let uri = format!("{prefix}/cogs/{name}");
        let (store, path) = stores
            .resolve(&uri, &mosaic::backend::MosaicUri::parse(&uri).unwrap())
            .unwrap();
        store
            .put(&path, read_bytes(&format!("cogs/{name}")).into())
            .await
            .unwrap();
    }
    let allowed = format!("{}/,{http}/,{prefix}/", docs.path().display());
    let mut child = std::process::Command::new(&bin)
        .env_clear()
        .current_dir(folder.path())
        .env("PORT", "0")
        .env("MOSAIC_ALLOWED_URLS", &allowed)
        .envs(s3_environment())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .and_then(|u| u.split("/mosaicjson").next())
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned();

    let manifest = read_json("renders/manifest.json");
    let client = reqwest::Client::new();
    let mut failures = Vec::new();
    let mut compared = 0;
    for (source, asset_prefix) in [("http", format!("{http}/")), ("s3", format!("{prefix}/"))] {
        for (i, rec) in manifest["renders"].as_array().unwrap().iter().enumerate() {
            if rec["error"].is_string() {
                continue;
            }
            let mut doc =
                MosaicJson::from_slice(&read_bytes(rec["mosaic"].as_str().unwrap())).unwrap();
            doc.asset_prefix = Some(asset_prefix.clone());
            let path = docs.path().join(format!("{source}-{i}.json"));
            std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
            let t = &rec["tile"];
            let mut url = format!(
                "{base}/mosaicjson/tiles/WebMercatorQuad/{}/{}/{}.npy?url={}&pixel_selection={}&tilesize={}",
                t["z"],
                t["x"],
                t["y"],
                path.display(),
                rec["pixel_selection"].as_str().unwrap(),
                rec["tilesize"].as_u64().unwrap_or(256),
            );
            for b in rec["indexes"].as_array().into_iter().flatten() {
                url.push_str(&format!("&bidx={b}"));
            }
            let label = format!("{source} {}", rec["call"].as_str().unwrap_or(""));
            let response = client.get(&url).send().await.unwrap();
            let status = response.status();
            let body = response.bytes().await.unwrap();
            if !status.is_success() {
                failures.push(format!(
                    "{label}: {status} {}",
                    String::from_utf8_lossy(&body)
                ));
                continue;
            }
            let ours = parse_npy(&body);
            let data = parse_npy(&read_bytes(rec["files"]["data"].as_str().unwrap()));
            let mask = parse_npy(&read_bytes(rec["files"]["mask"].as_str().unwrap()));
            let (bands, plane) = (data.shape[0], data.shape[1] * data.shape[2]);
            assert_eq!(
                ours.shape,
                vec![bands + 1, data.shape[1], data.shape[2]],
                "{label}"
            );
            // The last plane is the mask (0 = masked), for every band.
            let masks = &ours.values[bands * plane..];
            let masked: Vec<bool> = (0..bands * plane)
                .map(|k| masks[k % plane] == 0.0)
                .collect();
            let float = rec["dtype"].as_str().unwrap().starts_with('f');
            let (m, v, _) = agreement(&data, &mask, &ours.values[..bands * plane], &masked, float);
            if m < 0.995 || v < 0.99 {
                failures.push(format!("{label}: mask {m:.4}, values {v:.4}"));
            }
            compared += 1;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    eprintln!("{compared} artifact renders compared");
    assert!(compared > 0);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
