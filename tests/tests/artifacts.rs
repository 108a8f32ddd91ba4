//! The tile server as a self-contained binary: reads every compression COG producers write
//! (Deflate, LZW, JPEG, ZSTD, WebP) - the development build in every test run, the Lambda
//! artifact (`bash scripts/package.sh`, tests marked `ignore` that it runs with
//! `MOSAIC_LAMBDA_DIR`) - and the artifact, alone in an empty folder with an empty
//! environment, serves the reference renders from loopback HTTP and moto S3 like
//! rio-tiler.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use mosaic::MosaicJson;
use mosaic_integration_tests::{
    agreement, parse_npy, read_bytes, read_json, refdata, require_services, run_id, serve_dir,
    workspace_bin,
};

/// A tiler process in local mode; killed on drop.
struct Tiler {
    child: Child,
    base: String,
}

impl Drop for Tiler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `bin` in `folder` with nothing in its environment but `env`, on a free port.
fn spawn_alone(bin: &Path, folder: &Path, env: &[(String, String)]) -> Tiler {
    let mut child = Command::new(bin)
        .env_clear()
        .current_dir(folder)
        .env("PORT", "0")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
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
    Tiler { child, base }
}

async fn get(url: &str) -> (u16, Vec<u8>) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}

/// Writes a one-asset mosaic of `cog` (the reference mosaic of the rgb set, its zooms) and
/// returns its path.
fn one_asset_mosaic(dir: &Path, name: &str, cog: &Path) -> PathBuf {
    let mut doc = MosaicJson::from_slice(&read_bytes("mosaics/cog_rgb__default.json")).unwrap();
    for assets in doc.tiles.values_mut() {
        assets.clear();
        assets.push(cog.display().to_string());
    }
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
    path
}

/// Every compression of one reference COG, written by the system's `gdal_translate`,
/// renders through `bin` like the Deflate one: equal for the lossless codecs, close for
/// JPEG and WebP.
async fn compressions_render_alike(bin: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let source = refdata().join("cogs/rgb_01.tif");
    let manifest = read_json("renders/manifest.json");
    let render = manifest["renders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["assets_used"]
                .as_array()
                .is_some_and(|a| a.iter().any(|v| v == "cogs/rgb_01.tif"))
        })
        .expect("a reference render that reads rgb_01.tif");
    let t = &render["tile"];
    let tiler = spawn_alone(
        bin,
        dir.path(),
        &[(
            "MOSAIC_ALLOWED_URLS".into(),
            format!("{}/", dir.path().display()),
        )],
    );
    let mut tiles = Vec::new();
    for (codec, options) in [
        ("DEFLATE", &["-co", "COMPRESS=DEFLATE"][..]),
        ("LZW", &["-co", "COMPRESS=LZW"]),
        ("ZSTD", &["-co", "COMPRESS=ZSTD"]),
        ("WEBP", &["-co", "COMPRESS=WEBP", "-co", "QUALITY=100"]),
        ("JPEG", &["-co", "COMPRESS=JPEG", "-co", "QUALITY=95"]),
    ] {
        let cog = dir.path().join(format!("{codec}.tif"));
        let out = Command::new("gdal_translate")
            .args(["-q", "-of", "COG"])
            .args(options)
            .arg(&source)
            .arg(&cog)
            .output()
            .expect("gdal_translate (gdal-bin)");
        assert!(
            out.status.success(),
            "gdal_translate {codec}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mosaic = one_asset_mosaic(dir.path(), codec, &cog);
        let url = format!(
            "{}/mosaicjson/tiles/WebMercatorQuad/{}/{}/{}.npy?url={}",
            tiler.base,
            t["z"],
            t["x"],
            t["y"],
            mosaic.display()
        );
        let (status, body) = get(&url).await;
        assert_eq!(status, 200, "{codec}: {}", String::from_utf8_lossy(&body));
        tiles.push((codec, parse_npy(&body)));
    }
    let (_, deflate) = &tiles[0];
    let valid = deflate.values.iter().filter(|v| **v != 0.0).count();
    assert!(valid > 1000, "the tile has data: {valid} non-zero values");
    for (codec, tile) in &tiles[1..] {
        assert_eq!(tile.shape, deflate.shape, "{codec}");
        let diff: f64 = tile
            .values
            .iter()
            .zip(&deflate.values)
            .map(|(a, b)| (a - b).abs())
            .sum::<f64>()
            / tile.values.len() as f64;
        // WebP at quality 100 is not lossless in every GDAL version: near, like JPEG.
        let bound = if matches!(*codec, "JPEG" | "WEBP") {
            8.0
        } else {
            0.0
        };
        assert!(
            diff <= bound,
            "{codec}: mean difference {diff} from the Deflate COG's tile"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn development_build_reads_every_compression() {
    compressions_render_alike(&workspace_bin("tiler")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Lambda artifacts: bash scripts/package.sh runs it"]
async fn tiler_artifact_reads_every_compression() {
    let (_folder, bin) = artifact("tiler");
    compressions_render_alike(&bin).await;
}

/// The Lambda artifact of a function (`bash scripts/package.sh`), copied alone into an
/// empty folder. Returns the folder (keep it alive) and the binary's path.
fn artifact(function: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = std::env::var_os("MOSAIC_LAMBDA_DIR")
        .map(PathBuf::from)
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
    require_services();
    let (folder, bin) = artifact("tiler");
    let docs = tempfile::tempdir().unwrap();
    let http = serve_dir(refdata());
    let prefix = format!("s3://mosaic-test/{}", run_id());
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
    let mut env = s3_environment();
    env.push(("MOSAIC_ALLOWED_URLS".into(), allowed));
    let tiler = spawn_alone(&bin, folder.path(), &env);
    let base = tiler.base.clone();

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
    drop(tiler);
    eprintln!("{compared} artifact renders compared");
    assert!(compared > 0);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
