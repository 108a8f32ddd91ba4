//! The bad-input corpus (`tests/corpus/` at the workspace root, listed in its README)
//! through the router: `/mosaicjson/info`, `/mosaicjson/tiles/...` (image and `/assets`),
//! `/mosaicjson/point/...` (values and `/assets`), `/mosaicjson/bbox/.../assets`,
//! `POST /mosaicjson/validate`. Every case is a row of a table (name, request, expected
//! status); an error answer must carry a JSON body with a string `detail`, a 204 no body.
//! Files that depend on the reference data (a COG, its truncations, a PNG, a GeoTIFF
//! without CRS, traversal layouts) are generated in a temp directory from whatever COGs the
//! set holds (`MOSAIC_REFDATA`).
//!
//! Each test runs its whole table and reports every mismatch at once.

mod common;

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::Request;
use common::{q, refdata, send};
use mosaic::MosaicJson;
use mosaic::create::{CreateOptions, Footprint};
use serde_json::Value;
use tiler::{AllowList, AppState, Config, app};

#[path = "../../../tests/corpus/fixtures.rs"]
mod fixtures;
use fixtures::{Cog, cog, first_data_offset, png_bytes};

/// The hand-written part of the corpus.
fn corpus() -> PathBuf {
    std::fs::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus")).unwrap()
}

/// What a request must answer.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// This status with a JSON body `{"detail": "<string>", ...}`.
    Status(u16),
    /// 204 and an empty body.
    NoContent,
    /// 200 and the JSON `[]` (a look-up that finds nothing).
    EmptyList,
    /// 200 (a control: the same set-up with a good input works).
    Ok,
}

struct Case {
    name: String,
    method: &'static str,
    uri: String,
    body: Vec<u8>,
    expect: Expect,
}

fn get(name: impl Into<String>, uri: impl Into<String>, expect: Expect) -> Case {
    Case {
        name: name.into(),
        method: "GET",
        uri: uri.into(),
        body: Vec::new(),
        expect,
    }
}

fn post(name: impl Into<String>, uri: impl Into<String>, body: Vec<u8>, expect: Expect) -> Case {
    Case {
        name: name.into(),
        method: "POST",
        uri: uri.into(),
        body,
        expect,
    }
}

/// A small GeoTIFF with a geotransform (degrees over `bounds`) and no CRS at all, written
/// with GDAL's GTiff driver.
fn write_geotiff_without_crs(path: &Path, bounds: [f64; 4]) {
    use gdal::DriverManager;
    let size = 64usize;
    let driver = DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut ds = driver
        .create_with_band_type::<u8, _>(path, size, size, 1)
        .unwrap();
    let [w, s, e, n] = bounds;
    ds.set_geo_transform(&[w, (e - w) / size as f64, 0.0, n, 0.0, (s - n) / size as f64])
        .unwrap();
    {
        let mut band = ds.rasterband(1).unwrap();
        let mut buf = gdal::raster::Buffer::new((size, size), vec![100u8; size * size]);
        band.write((0, 0), (size, size), &mut buf).unwrap();
    }
    // Closing the dataset flushes the file.
    drop(ds);
    let check = gdal::Dataset::open(path).unwrap();
    assert!(check.spatial_ref().is_err(), "the GeoTIFF must have no CRS");
}

/// The generated half of the corpus and a router allowed to read `allowed/` and the
/// corpus's mosaics:
///
/// ```text
/// root/
///   allowed/             mosaics, bad assets, cog.tif (a copy of the COG)
///   outside/secret.tif   a copy of the COG, outside the allowlist
///   outside/m.json       a valid mosaic of it, outside the allowlist
///   x/secret.tif         what `file://x/secret.tif` must never read
/// ```
struct Env {
    _root: tempfile::TempDir,
    base: PathBuf,
    allowed: PathBuf,
    cog: Cog,
    router: axum::Router,
}

impl Env {
    fn new() -> Env {
        let cog = cog();
        let root = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(root.path()).unwrap();
        let allowed = base.join("allowed");
        let outside = base.join("outside");
        for d in [&allowed, &outside, &base.join("x")] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::copy(&cog.path, outside.join("secret.tif")).unwrap();
        std::fs::copy(&cog.path, base.join("x/secret.tif")).unwrap();
        std::fs::copy(&cog.path, allowed.join("cog.tif")).unwrap();
        let bytes = std::fs::read(&cog.path).unwrap();
        let data_start = first_data_offset(&bytes) as usize;
        for (name, content) in [
            ("not_a_tiff.png", png_bytes()),
            ("png_named.tif", png_bytes()),
            ("text_named.tif", b"this is not a TIFF file\n".to_vec()),
            ("truncated_header.tif", bytes[..16].to_vec()),
            ("truncated_after_ifds.tif", bytes[..data_start].to_vec()),
            ("empty.tif", Vec::new()),
        ] {
            std::fs::write(allowed.join(name), content).unwrap();
        }
        write_geotiff_without_crs(&allowed.join("no_crs.tif"), cog.bounds);
        std::fs::create_dir_all(allowed.join("directory.tif")).unwrap();
        std::fs::create_dir_all(allowed.join("directory.json")).unwrap();
        let allow = AllowList::of(&[
            allowed.to_string_lossy().into_owned(),
            corpus().join("mosaics").to_string_lossy().into_owned(),
        ]);
        let mut config = Config::new(allow);
        config.url_template = Some(format!("{}/{{id}}.json", allowed.display()));
        let env = Env {
            _root: root,
            base,
            allowed,
            cog,
            router: app(AppState::new(config)),
        };
        let secret = outside.join("secret.tif");
        env.write_mosaic(&outside.join("m.json"), &secret.to_string_lossy());
        env
    }

    fn at(&self, name: &str) -> String {
        self.allowed.join(name).to_string_lossy().into_owned()
    }

    fn write_mosaic(&self, path: &Path, asset: &str) -> String {
        let fp = Footprint::from_bbox(asset, self.cog.bounds);
        let doc = MosaicJson::from_footprints(
            &[fp],
            &CreateOptions::new(self.cog.zooms.0, self.cog.zooms.1),
        )
        .unwrap();
        std::fs::write(path, doc.to_json_vec()).unwrap();
        path.to_string_lossy().into_owned()
    }

    /// A mosaic (in `allowed/`) whose only asset is `asset`, over the COG's footprint.
    fn mosaic_of(&self, name: &str, asset: &str) -> String {
        self.write_mosaic(&self.allowed.join(format!("{name}.json")), asset)
    }

    fn tile_uri(&self, mosaic: &str) -> String {
        let t = self.cog.tile;
        format!(
            "/mosaicjson/tiles/WebMercatorQuad/{}/{}/{}.png?url={}",
            t.z,
            t.x,
            t.y,
            q(mosaic)
        )
    }

    fn point_uri(&self, mosaic: &str) -> String {
        let b = self.cog.bounds;
        format!(
            "/mosaicjson/point/{},{}?url={}",
            (b[0] + b[2]) / 2.0,
            (b[1] + b[3]) / 2.0,
            q(mosaic)
        )
    }
}

/// Runs every case; returns the table (one line per case) and the mismatches.
async fn run_table(env: &Env, cases: &[Case]) -> (Vec<String>, Vec<String>) {
    let mut table = Vec::new();
    let mut failures = Vec::new();
    for c in cases {
        let req = Request::builder()
            .method(c.method)
            .uri(&c.uri)
            .header("host", "tiler.test")
            .body(Body::from(c.body.clone()))
            .unwrap();
        let (resp, body) = send(&env.router, req).await;
        let status = resp.status().as_u16();
        let json = serde_json::from_slice::<Value>(&body).ok();
        let detail = json
            .as_ref()
            .and_then(|v| v.get("detail"))
            .and_then(Value::as_str);
        let problem = match c.expect {
            Expect::Status(want) => {
                if status != want {
                    Some(format!("status {status}, expected {want}"))
                } else if detail.is_none() {
                    Some(format!(
                        "status {status} as expected, but no string `detail`"
                    ))
                } else {
                    None
                }
            }
            Expect::NoContent => (status != 204 || !body.is_empty())
                .then(|| format!("status {status} with {} bytes, expected 204", body.len())),
            Expect::EmptyList => (status != 200 || json != Some(Value::Array(Vec::new())))
                .then(|| format!("status {status}, expected 200 []")),
            Expect::Ok => (status != 200).then(|| format!("status {status}, expected 200")),
        };
        let verdict = if problem.is_some() { "FAIL" } else { "pass" };
        table.push(format!(
            "{verdict} | {:<52} | expected {:?} | got {status}",
            c.name, c.expect
        ));
        if let Some(p) = problem {
            failures.push(format!(
                "{}: {p}\n    {} {}\n    body: {}",
                c.name,
                c.method,
                c.uri,
                String::from_utf8_lossy(&body[..body.len().min(400)])
            ));
        }
    }
    (table, failures)
}

async fn check(group: &str, env: &Env, cases: &[Case]) {
    let (table, failures) = run_table(env, cases).await;
    println!("{group}:\n{}", table.join("\n"));
    assert!(
        failures.is_empty(),
        "{group}: {} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Corpus files as `url=` of `/info` and of a tile look-up, and as the body of `/validate`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_mosaic_documents() {
    let env = Env::new();
    let dir = corpus().join("mosaics");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert!(names.len() >= 17, "corpus/mosaics is incomplete: {names:?}");
    let good = env.mosaic_of("good", &env.at("cog.tif"));
    let mut cases = vec![
        get(
            "control: info of a good mosaic",
            format!("/mosaicjson/info?url={}", q(&good)),
            Expect::Ok,
        ),
        post(
            "control: validate a good mosaic",
            "/mosaicjson/validate",
            std::fs::read(&good).unwrap(),
            Expect::Ok,
        ),
    ];
    for n in &names {
        let p = dir.join(n).to_string_lossy().into_owned();
        // Every document of corpus/mosaics is invalid MosaicJSON: 400 when read through
        // `url=`, 422 from /validate (FastAPI's validation status).
        cases.push(get(
            format!("info {n}"),
            format!("/mosaicjson/info?url={}", q(&p)),
            Expect::Status(400),
        ));
        cases.push(get(
            format!("tile assets {n}"),
            format!(
                "/mosaicjson/tiles/WebMercatorQuad/0/0/0/assets?url={}",
                q(&p)
            ),
            Expect::Status(400),
        ));
        cases.push(post(
            format!("validate {n}"),
            "/mosaicjson/validate",
            std::fs::read(dir.join(n)).unwrap(),
            Expect::Status(422),
        ));
    }
    let d = env.at("directory.json");
    cases.extend([
        get(
            "info <directory>",
            format!("/mosaicjson/info?url={}", q(&d)),
            Expect::Status(400),
        ),
        get(
            "tile <directory>",
            format!("/mosaicjson/tiles/WebMercatorQuad/0/0/0.png?url={}", q(&d)),
            Expect::Status(400),
        ),
        get(
            "info <missing file>",
            format!("/mosaicjson/info?url={}", q(&env.at("missing.json"))),
            Expect::Status(404),
        ),
        get(
            "/mosaics/directory/info (id of a directory)",
            "/mosaics/directory/info",
            Expect::Status(400),
        ),
    ]);
    check("bad_mosaic_documents", &env, &cases).await;
}

/// Tile indices, points and bboxes out of range or malformed, on a good mosaic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_lookup_parameters() {
    let env = Env::new();
    let m = q(&env.mosaic_of("good", &env.at("cog.tif")));
    let t = env.cog.tile;
    let [w, s, e, n] = env.cog.bounds;
    let two64 = "18446744073709551616";
    let mut cases = vec![
        get(
            "control: tile inside the COG",
            format!(
                "/mosaicjson/tiles/WebMercatorQuad/{}/{}/{}.png?url={m}",
                t.z, t.x, t.y
            ),
            Expect::Ok,
        ),
        get(
            "tile with no asset (204)",
            format!("/mosaicjson/tiles/WebMercatorQuad/{}/0/0.png?url={m}", t.z),
            Expect::NoContent,
        ),
        get(
            "tile assets with no asset ([])",
            format!(
                "/mosaicjson/tiles/WebMercatorQuad/{}/0/0/assets?url={m}",
                t.z
            ),
            Expect::EmptyList,
        ),
    ];
    for (name, z, x, y) in [
        ("z=31", "31", "0", "0"),
        ("z=256", "256", "0", "0"),
        ("z=-1", "-1", "0", "0"),
        ("z=abc", "abc", "0", "0"),
        ("x=2^64", "3", two64, "0"),
        ("y=2^64", "3", "0", two64),
        ("x=-1", "3", "-1", "0"),
        ("y=-1", "3", "0", "-1"),
        ("x=1.5", "3", "1.5", "0"),
        ("x=abc", "3", "abc", "0"),
        ("x=8 (outside z3)", "3", "8", "0"),
        ("y=2^30 (outside z30)", "30", "0", "1073741824"),
        ("x=2^64-1 (outside z3)", "3", "18446744073709551615", "0"),
    ] {
        cases.push(get(
            format!("tile {name}"),
            format!("/mosaicjson/tiles/WebMercatorQuad/{z}/{x}/{y}.png?url={m}"),
            Expect::Status(400),
        ));
        cases.push(get(
            format!("tile assets {name}"),
            format!("/mosaicjson/tiles/WebMercatorQuad/{z}/{x}/{y}/assets?url={m}"),
            Expect::Status(400),
        ));
    }
    for (name, lonlat) in [
        ("NaN", format!("NaN,{s}")),
        ("nan latitude", format!("{w},nan")),
        ("Infinity", format!("Infinity,{s}")),
        ("-Infinity", format!("{w},-Infinity")),
        ("inf", format!("inf,{s}")),
        ("1e400", format!("1e400,{s}")),
        ("abc", format!("abc,{s}")),
        ("one number", format!("{w}")),
    ] {
        cases.push(get(
            format!("point {name}"),
            format!("/mosaicjson/point/{lonlat}?url={m}"),
            Expect::Status(400),
        ));
        cases.push(get(
            format!("point assets {name}"),
            format!("/mosaicjson/point/{lonlat}/assets?url={m}"),
            Expect::Status(400),
        ));
    }
    for (name, bbox, want) in [
        (
            "bbox inverted x, minx > maxx (documented: nothing)",
            format!("{e},{s},{w},{n}"),
            Expect::EmptyList,
        ),
        (
            "bbox inverted y, miny > maxy (documented: nothing)",
            format!("{w},{n},{e},{s}"),
            Expect::EmptyList,
        ),
        ("bbox NaN", format!("NaN,{s},{e},{n}"), Expect::Status(400)),
        (
            "bbox nan maxy",
            format!("{w},{s},{e},nan"),
            Expect::Status(400),
        ),
        ("bbox inf", format!("{w},{s},inf,{n}"), Expect::Status(400)),
        (
            "bbox -Infinity",
            format!("-Infinity,{s},{e},{n}"),
            Expect::Status(400),
        ),
        (
            "bbox 1e400",
            format!("{w},{s},1e400,{n}"),
            Expect::Status(400),
        ),
        (
            "bbox three numbers",
            format!("{w},{s},{e}"),
            Expect::Status(400),
        ),
        ("bbox abc", format!("abc,{s},{e},{n}"), Expect::Status(400)),
    ] {
        cases.push(get(
            name,
            format!("/mosaicjson/bbox/{bbox}/assets?url={m}"),
            want,
        ));
    }
    check("bad_lookup_parameters", &env, &cases).await;
}

/// Traversal in every encoding in `url=` (as it arrives on the wire: the query string is
/// decoded once) and in `/mosaics/{id}`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traversal_in_the_mosaic_url() {
    let env = Env::new();
    let a = env.allowed.to_string_lossy().into_owned();
    let outside = env.base.join("outside/m.json");
    let outside = outside.to_string_lossy();
    let info = |wire: &str| format!("/mosaicjson/info?url={wire}");
    // Control: on a router allowed to read everything the outside mosaic is a valid
    // document, so the 403s below are the allowlist's doing.
    let open = app(AppState::new(Config::new(AllowList::parse("*"))));
    let (resp, _) = common::get(&open, &info(&q(&outside))).await;
    assert_eq!(
        resp.status().as_u16(),
        200,
        "the outside mosaic must be valid"
    );
    let cases = vec![
        get(
            "control: a mosaic inside the allowlist",
            info(&q(&env.mosaic_of("good", &env.at("cog.tif")))),
            Expect::Ok,
        ),
        get(
            "the outside mosaic itself",
            info(&q(&outside)),
            Expect::Status(403),
        ),
        get(
            "/allowed/../outside",
            info(&q(&format!("{a}/../outside/m.json"))),
            Expect::Status(403),
        ),
        get(
            "%2e%2e/ (decoded once: ../)",
            info(&format!("{a}/%2e%2e/outside/m.json")),
            Expect::Status(403),
        ),
        get(
            "..%2f (decoded once: ../)",
            info(&format!("{a}/..%2foutside%2fm.json")),
            Expect::Status(403),
        ),
        get(
            "%252e%252e/ (decoded once: a literal name, missing)",
            info(&format!("{a}/%252e%252e/outside/m.json")),
            Expect::Status(404),
        ),
        get(
            "%2e%2e%5c (decoded once: ..\\, a literal name, missing)",
            info(&format!("{a}/%2e%2e%5coutside%5cm.json")),
            Expect::Status(404),
        ),
        get(
            "backslashes in a path (a literal name, missing)",
            info(&q(&format!("{a}/..\\outside\\m.json"))),
            Expect::Status(404),
        ),
        get(
            "backslashes in a file:// URL (separators)",
            info(&q(&format!("file://{a}/..\\outside\\m.json"))),
            Expect::Status(403),
        ),
        get(
            "file://x/… (a host)",
            info(&q(&format!("file://x{outside}"))),
            Expect::Status(403),
        ),
        get(
            "file://x/allowed/… (a host, even inside)",
            info(&q(&format!("file://x{a}/good.json"))),
            Expect::Status(403),
        ),
        get(
            "file:///allowed/../outside",
            info(&q(&format!("file://{a}/../outside/m.json"))),
            Expect::Status(403),
        ),
        get(
            "file:///allowed/%2e%2e/outside",
            info(&q(&format!("file://{a}/%2e%2e/outside/m.json"))),
            Expect::Status(403),
        ),
        get(
            "relative ../../…",
            info(&q("../../../../../../../../etc/passwd")),
            Expect::Status(403),
        ),
        get(
            "/mosaics/%2e%2e/info",
            "/mosaics/%2e%2e/info",
            Expect::Status(400),
        ),
        get(
            "/mosaics/..%2Foutside%2Fm/info",
            "/mosaics/..%2Foutside%2Fm/info",
            Expect::Status(400),
        ),
        get(
            "/mosaics/..%5Coutside%5Cm/info",
            "/mosaics/..%5Coutside%5Cm/info",
            Expect::Status(400),
        ),
    ];
    check("traversal_in_the_mosaic_url", &env, &cases).await;
}

/// Assets that are not COGs, truncated, without CRS, empty, directories, and traversal in
/// every encoding, through the tile and point endpoints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_assets() {
    let env = Env::new();
    let a = env.allowed.to_string_lossy().into_owned();
    let assets: Vec<(&str, String, Expect)> = vec![
        ("control: the COG", env.at("cog.tif"), Expect::Ok),
        (
            "PNG named .png",
            env.at("not_a_tiff.png"),
            Expect::Status(424),
        ),
        (
            "PNG named .tif",
            env.at("png_named.tif"),
            Expect::Status(424),
        ),
        (
            "text file named .tif",
            env.at("text_named.tif"),
            Expect::Status(424),
        ),
        (
            "truncated TIFF (16 bytes)",
            env.at("truncated_header.tif"),
            Expect::Status(424),
        ),
        (
            "truncated TIFF (IFDs, no pixel data)",
            env.at("truncated_after_ifds.tif"),
            Expect::Status(424),
        ),
        (
            "GeoTIFF without CRS",
            env.at("no_crs.tif"),
            Expect::Status(424),
        ),
        ("empty file", env.at("empty.tif"), Expect::Status(424)),
        (
            "directory as asset",
            env.at("directory.tif"),
            Expect::Status(424),
        ),
        ("missing asset", env.at("missing.tif"), Expect::Status(424)),
        (
            "/allowed/../outside",
            format!("{a}/../outside/secret.tif"),
            Expect::Status(403),
        ),
        (
            "relative ../outside",
            "../outside/secret.tif".into(),
            Expect::Status(403),
        ),
        (
            "%2e%2e/ (a literal name, missing)",
            format!("{a}/%2e%2e/outside/secret.tif"),
            Expect::Status(424),
        ),
        (
            "%252e%252e/ (a literal name, missing)",
            format!("{a}/%252e%252e/outside/secret.tif"),
            Expect::Status(424),
        ),
        (
            "..%2f (a literal name, missing)",
            format!("{a}/..%2foutside%2fsecret.tif"),
            Expect::Status(424),
        ),
        (
            "%2e%2e%5c (a literal name, missing)",
            format!("{a}/%2e%2e%5coutside%5csecret.tif"),
            Expect::Status(424),
        ),
        (
            "backslashes (a literal name, missing)",
            format!("{a}/..\\outside\\secret.tif"),
            Expect::Status(424),
        ),
        (
            "file://x/secret.tif (a host)",
            "file://x/secret.tif".into(),
            Expect::Status(403),
        ),
        (
            "file:///allowed/../outside",
            format!("file://{a}/../outside/secret.tif"),
            Expect::Status(403),
        ),
        (
            "file:///allowed/%2e%2e/outside",
            format!("file://{a}/%2e%2e/outside/secret.tif"),
            Expect::Status(403),
        ),
        (
            "file:// with backslashes (separators)",
            format!("file://{a}/..\\outside\\secret.tif"),
            Expect::Status(403),
        ),
        (
            "GDAL syntax (/vsicurl/)",
            "/vsicurl/http://127.0.0.1:9/x.tif".into(),
            Expect::Status(403),
        ),
    ];
    let mut cases = Vec::new();
    for (i, (name, asset, want)) in assets.iter().enumerate() {
        let m = env.mosaic_of(&format!("asset{i}"), asset);
        cases.push(get(format!("tile: {name}"), env.tile_uri(&m), *want));
        cases.push(get(format!("point: {name}"), env.point_uri(&m), *want));
    }
    check("bad_assets", &env, &cases).await;
}
