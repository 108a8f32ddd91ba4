//! Shared helpers for the workspace integration tests: where the reference data lives and
//! how to read its files. Tests read the set's manifests rather than hard-coding names, so
//! they run unchanged on any data set of the same layout (`MOSAIC_REFDATA=/path/to/set`).

pub mod conformance;
pub mod ingest_fixture;
pub mod proxy;
pub mod stac_api;

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The reference data set directory: `$MOSAIC_REFDATA`, else `../shared/refdata/public`
/// beside the workspace.
pub fn refdata() -> PathBuf {
    if let Some(dir) = std::env::var_os("MOSAIC_REFDATA") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/refdata/public")
}

/// Reads a file of the set (path relative to the set), gunzipping `.gz` files.
pub fn read_bytes(rel: &str) -> Vec<u8> {
    let path = refdata().join(rel);
    let raw =
        std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    if rel.ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .expect("gunzip");
        out
    } else {
        raw
    }
}

/// Reads a JSON file of the set.
pub fn read_json(rel: &str) -> Value {
    serde_json::from_slice(&read_bytes(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The property named by an accessor such as `lambda feature: feature["properties"]["path"]`.
pub fn accessor_property(accessor: Option<&str>) -> String {
    let Some(acc) = accessor else {
        return "path".into();
    };
    acc.rsplit("[\"")
        .next()
        .and_then(|s| s.split('"').next())
        .unwrap_or("path")
        .to_string()
}

/// The path of the `mosaic` binary built for this test run.
pub fn mosaic_bin() -> PathBuf {
    workspace_bin("mosaic")
}

/// A binary of the workspace, as `cargo build --workspace --bins` leaves it.
pub fn workspace_bin(name: &str) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("debug").join(name),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../target/debug")
            .join(name),
    }
}

/// A minimal static HTTP/1.1 file server on 127.0.0.1 with `Range` support (206), enough
/// for GDAL's `/vsicurl/`. Serves `root` until the process ends; returns the base URL.
pub fn serve_dir(root: PathBuf) -> String {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = root.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut stream = stream;
                loop {
                    let mut request = String::new();
                    if reader.read_line(&mut request).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut range = None;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                            range = Some(v.trim().to_string());
                        }
                    }
                    let mut parts = request.split_whitespace();
                    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
                    let rel = path.split('?').next().unwrap_or("").trim_start_matches('/');
                    let body = if rel.contains("..") {
                        None
                    } else {
                        std::fs::read(root.join(rel)).ok()
                    };
                    let response = match body {
                        None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
                        Some(data) => {
                            let len = data.len();
                            let (status, start, end) =
                                match range.as_deref().and_then(|r| r.split_once('-')) {
                                    Some((a, b)) => {
                                        let (start, end) = if a.is_empty() {
                                            (len.saturating_sub(b.parse().unwrap_or(0)), len - 1)
                                        } else {
                                            (
                                                a.parse().unwrap_or(0),
                                                b.parse().unwrap_or(len - 1).min(len - 1),
                                            )
                                        };
                                        ("206 Partial Content", start, end)
                                    }
                                    None => ("200 OK", 0, len.saturating_sub(1)),
                                };
                            let chunk = if len == 0 || start > end {
                                &data[0..0]
                            } else {
                                &data[start..=end]
                            };
                            let mut head = format!(
                                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\nContent-Type: application/octet-stream\r\n",
                                chunk.len()
                            );
                            if status.starts_with("206") {
                                head.push_str(&format!(
                                    "Content-Range: bytes {start}-{end}/{len}\r\n"
                                ));
                            }
                            head.push_str("\r\n");
                            let mut out = head.into_bytes();
                            if method != "HEAD" {
                                out.extend_from_slice(chunk);
                            }
                            out
                        }
                    };
                    if stream.write_all(&response).is_err() {
                        return;
                    }
                }
            });
        }
    });
    base
}

/// A NumPy `.npy` array (format 1.x/2.x, C order) with its values as `f64`.
#[derive(Debug, Clone)]
pub struct Npy {
    /// numpy `descr` (`|u1`, `<f4`, `|b1`, ...).
    pub descr: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Values in C order.
    pub values: Vec<f64>,
}

/// Parses `.npy` bytes.
pub fn parse_npy(bytes: &[u8]) -> Npy {
    assert_eq!(&bytes[..6], b"\x93NUMPY", "not an npy file");
    let (hlen, start) = if bytes[6] == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
    } else {
        (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        )
    };
    let header = std::str::from_utf8(&bytes[start..start + hlen]).expect("header");
    let descr = header
        .split("'descr': '")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .expect("descr")
        .to_string();
    assert!(header.contains("'fortran_order': False"));
    let shape: Vec<usize> = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .expect("shape")
        .split(',')
        .filter_map(|d| d.trim().parse().ok())
        .collect();
    let body = &bytes[start + hlen..];
    let values: Vec<f64> = match descr.as_str() {
        "|u1" | "|b1" => body.iter().map(|v| f64::from(*v)).collect(),
        "|i1" => body.iter().map(|v| f64::from(*v as i8)).collect(),
        "<u2" => body
            .chunks_exact(2)
            .map(|c| f64::from(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        "<i2" => body
            .chunks_exact(2)
            .map(|c| f64::from(i16::from_le_bytes([c[0], c[1]])))
            .collect(),
        "<u4" => body
            .chunks_exact(4)
            .map(|c| f64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        "<i4" => body
            .chunks_exact(4)
            .map(|c| f64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        "<i8" => body
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64)
            .collect(),
        "<f4" => body
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        "<f8" => body
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        other => panic!("unsupported npy dtype {other}"),
    };
    assert_eq!(values.len(), shape.iter().product::<usize>(), "npy size");
    Npy {
        descr,
        shape,
        values,
    }
}

/// One look-up case of the reference set (`cases/*.json`): what cogeo-mosaic answered.
#[derive(Debug, Clone)]
pub struct LookupCase {
    /// The case file, relative to the set.
    pub file: String,
    /// The mosaic file it was asked of, relative to the set.
    pub mosaic: String,
    /// The read TMS id.
    pub tms: String,
    /// `assets_for_tile`, `assets_for_point` or `assets_for_bbox`.
    pub function: String,
    /// The call's arguments.
    pub input: Value,
    /// The answer; `None` when cogeo-mosaic raised.
    pub expected: Option<Vec<String>>,
}

impl LookupCase {
    /// The case as a look-up request of this crate.
    pub fn request(&self) -> (mosaic::index::Lookup, mosaic::index::LookupOptions) {
        use mosaic::index::{Lookup, LookupOptions};
        let input = &self.input;
        let f = |k: &str| {
            input[k]
                .as_f64()
                .unwrap_or_else(|| panic!("{}: {k}", self.file))
        };
        let opts = LookupOptions {
            reverse: input
                .get("reverse")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            tms: Some(mosaic::TileMatrixSet::builtin(&self.tms).expect("read TMS")),
            coord_crs: input
                .get("coord_crs")
                .and_then(Value::as_str)
                .map(|c| mosaic::crs::Crs::parse(c).expect("coord_crs")),
            ..Default::default()
        };
        let lookup = match self.function.as_str() {
            "assets_for_tile" => Lookup::Tile(mosaic::Tile::new(
                f("x") as u64,
                f("y") as u64,
                f("z") as u8,
            )),
            "assets_for_point" => Lookup::Point {
                lon: f("lng"),
                lat: f("lat"),
            },
            "assets_for_bbox" => Lookup::Bbox([f("xmin"), f("ymin"), f("xmax"), f("ymax")]),
            other => panic!("unknown function {other}"),
        };
        (lookup, opts)
    }

    /// Compares an answer with the reference: `None` when they agree, else a description.
    pub fn mismatch<E: std::fmt::Debug>(&self, got: Result<Vec<String>, E>) -> Option<String> {
        match (&self.expected, got) {
            (Some(expected), Ok(got)) if &got == expected => None,
            (None, Err(_)) => None,
            (Some(expected), Ok(got)) => Some(format!(
                "{} {}: got {} assets, expected {}",
                self.file,
                self.input,
                got.len(),
                expected.len()
            )),
            (e, g) => Some(format!(
                "{} {}: expected {e:?}, got {g:?}",
                self.file, self.input
            )),
        }
    }
}

/// Every look-up case of the set, file by file in name order.
pub fn lookup_cases() -> Vec<LookupCase> {
    let dir = refdata().join("cases");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .into_string()
                .expect("utf-8")
        })
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let rel = format!("cases/{file}");
        let spec = read_json(&rel);
        for case in spec["cases"].as_array().expect("cases") {
            out.push(LookupCase {
                file: rel.clone(),
                mosaic: spec["mosaic"].as_str().expect("mosaic").to_string(),
                tms: spec["tms"]
                    .as_str()
                    .unwrap_or("WebMercatorQuad")
                    .to_string(),
                function: spec["function"].as_str().expect("function").to_string(),
                input: case["input"].clone(),
                expected: case
                    .get("expected")
                    .map(|e| serde_json::from_value(e.clone()).expect("expected list")),
            });
        }
    }
    out
}

/// The distinct mosaic files the cases are asked of, in first-use order.
pub fn case_mosaics(cases: &[LookupCase]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    cases
        .iter()
        .filter(|c| seen.insert(c.mosaic.clone()))
        .map(|c| c.mosaic.clone())
        .collect()
}

/// A mosaic name for a mosaic file of the set (`mosaics/fp_100__z7_12.json.gz` → `fp_100__z7_12`).
pub fn mosaic_name(rel: &str) -> String {
    let file = rel.rsplit('/').next().unwrap_or(rel);
    file.trim_end_matches(".gz")
        .trim_end_matches(".json")
        .to_string()
}

/// Answers every case from the backend returned by `open(mosaic file)` and fails the test
/// on any mismatch (`label` names the backend in the report).
pub async fn assert_lookup_cases<F, Fut>(label: &str, cases: &[LookupCase], open: F)
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = std::sync::Arc<dyn mosaic::backend::MosaicRead>>,
{
    let (failures, total) = check_lookup_cases(cases, open).await;
    eprintln!("{total} look-up cases {label}, {} failures", failures.len());
    assert!(failures.is_empty(), "{label}:\n{}", failures.join("\n"));
    assert!(total > 100, "{label}: only {total} cases");
}

/// Answers every case from the backend returned by `open(mosaic file)`; returns the
/// mismatches and the number of cases asked.
pub async fn check_lookup_cases<F, Fut>(cases: &[LookupCase], open: F) -> (Vec<String>, usize)
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = std::sync::Arc<dyn mosaic::backend::MosaicRead>>,
{
    let mut failures = Vec::new();
    let mut backends = std::collections::HashMap::new();
    for case in cases {
        if !backends.contains_key(&case.mosaic) {
            backends.insert(case.mosaic.clone(), open(case.mosaic.clone()).await);
        }
        let backend = &backends[&case.mosaic];
        let (lookup, opts) = case.request();
        let got = backend.lookup(&lookup, &opts).await;
        failures.extend(case.mismatch(got));
    }
    (failures, cases.len())
}

/// Fails the test unless the local cloud services are up (`scripts/test.sh` starts them).
pub fn require_services() {
    assert!(
        std::env::var_os("MOSAIC_TEST_SERVICES").is_some(),
        "local S3/DynamoDB/GCS/Azure/HTTP services are not running: `bash infra/services.sh start /tmp/svc.env && source /tmp/svc.env` (scripts/test.sh does it)"
    );
}

/// A name unique to this run (process and time), for buckets keys, tables and mosaics.
pub fn run_id() -> String {
    format!(
        "run-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )
}

/// Runs the `mosaic` CLI in the reference set's directory; panics unless it succeeds.
/// Returns stdout.
pub fn run_cli(args: &[&str]) -> String {
    let out = run_cli_status(args);
    assert!(
        out.status.success(),
        "mosaic {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Runs the `mosaic` CLI in the reference set's directory, whatever its outcome.
pub fn run_cli_status(args: &[&str]) -> std::process::Output {
    cli_command(args).output().expect("run mosaic")
}

/// The `mosaic` CLI with `args`, to run in the reference set's directory: change its
/// working directory or environment before running it.
pub fn cli_command(args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(mosaic_bin());
    command.args(args).current_dir(refdata());
    command
}

/// Asks the CLI (`mosaic assets URI --tile …`) for the tiles of the first `n` quadkeys of
/// `reference` and fails unless each answer is that quadkey's asset list.
pub fn assert_cli_assets(uri: &str, reference: &mosaic::MosaicJson, n: usize) {
    let tms = reference.tms();
    for (qk, assets) in reference.tiles.iter().take(n) {
        let tile = tms.quadkey_to_tile(qk).expect("quadkey");
        let out = run_cli(&[
            "assets",
            uri,
            "--tile",
            &tile.z.to_string(),
            &tile.x.to_string(),
            &tile.y.to_string(),
        ]);
        let got: Vec<String> = serde_json::from_str(&out).expect("JSON list");
        assert_eq!(&got, assets, "{uri} {qk}");
    }
}

/// cogeo-mosaic creation keyword arguments (a calls file's `kwargs`) as our options.
pub fn create_options(kwargs: &Value) -> mosaic::create::CreateOptions {
    let z = |k: &str| kwargs.get(k).and_then(Value::as_u64).map(|v| v as u8);
    let mut o =
        mosaic::create::CreateOptions::new(z("minzoom").unwrap_or(0), z("maxzoom").unwrap_or(30));
    o.quadkey_zoom = z("quadkey_zoom");
    o.minimum_tile_cover = kwargs.get("minimum_tile_cover").and_then(Value::as_f64);
    o.tile_cover_sort = kwargs
        .get("tile_cover_sort")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    o.maximum_items_per_tile = kwargs
        .get("maximum_items_per_tile")
        .and_then(Value::as_u64)
        .map(|v| v as usize);
    let s = |k: &str| kwargs.get(k).and_then(Value::as_str).map(String::from);
    o.asset_prefix = s("asset_prefix");
    o.asset_type = s("asset_type");
    o.data_type = s("data_type");
    o.name = s("name");
    o.description = s("description");
    o.attribution = s("attribution");
    if let Some(t) = kwargs.get("tilematrixset") {
        o.tilematrixset = Some(match t {
            Value::String(id) => mosaic::TileMatrixSet::builtin(id).unwrap(),
            other => mosaic::TileMatrixSet::from_value(other.clone()).unwrap(),
        });
    }
    o
}

/// How well a render agrees with rio-tiler's: the share of mask values that agree, the share
/// of data values equal where both are valid (floats within 1e-6 relative), and how many
/// values are valid in both. `masked[k]` is true where value `k` (band-major) is masked.
pub fn agreement(
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
