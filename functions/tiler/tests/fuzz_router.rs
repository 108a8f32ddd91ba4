//! Fuzzing of the tile API with property tests (proptest, stable Rust): arbitrary tile
//! paths (`{z}/{x}/{y}[@{scale}x][.{format}]` with overflows, odd suffixes and percent
//! encodings) and query strings (`bidx`, `rescale`, `colormap`, `tilesize`, `buffer`,
//! `padding`, `pixel_selection`, `nodata`, `coord_crs`, `url`, ...) sent through the router
//! in process (`oneshot`), over the reference mosaics and a few broken ones. (The
//! allowlist, `mosaic::gate`, is fuzzed with the other parsers in `tests/tests/fuzz_parsers.rs`.)
//!
//! Properties: no panic; never 500 (a 5xx only as documented: 501 for an unsupported
//! backend, 503 when the server sheds load); every 4xx/5xx body is JSON with a `detail`
//! string; 204 has no body; a 200 tile is an image of the format asked for. 64 cases per
//! run (rendering is slow in debug builds); `PROPTEST_CASES` overrides.

mod common;

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::Request;
use common::{Fixture, fixture, send};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

#[path = "../../../tests/tests/fuzz_common/mod.rs"]
mod fuzz_common;
use fuzz_common::config;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

const DTYPES: [&str; 3] = ["uint8", "uint16", "float32"];

/// The reference fixtures (one per data type), each directory also holding broken mosaics.
fn fixtures() -> &'static Vec<Fixture> {
    static F: OnceLock<Vec<Fixture>> = OnceLock::new();
    F.get_or_init(|| {
        DTYPES
            .iter()
            .map(|d| {
                let f = fixture(d);
                add_broken_mosaics(&f);
                f
            })
            .collect()
    })
}

/// Mosaics inside the allowed directory that cannot be served as they are.
fn add_broken_mosaics(f: &Fixture) {
    let dir = f.dir.path();
    let text = std::fs::read(&f.mosaic).unwrap();
    let doc = mosaic::MosaicJson::from_slice(&text).unwrap();
    let write = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).unwrap();
    write("empty.json", b"");
    write("notjson.json", b"{\"mosaicjson\": ");
    write("truncated.json.gz", &{
        let gz = mosaic::mosaicjson::gzip(&text);
        gz[..gz.len() / 2].to_vec()
    });
    // Every asset missing (inside the allowed directory: read errors, 424).
    let mut missing = doc.clone();
    missing.asset_prefix = Some(format!("{}/", dir.join("no-such-dir").display()));
    write("missing.json", &missing.to_json_vec());
    // Assets that are not images.
    let mut garbage = doc.clone();
    garbage.asset_prefix = Some(format!("{}/", dir.display()));
    for assets in garbage.tiles.values_mut() {
        *assets = vec!["notjson.json".into(), "empty.json".into()];
    }
    write("garbage.json", &garbage.to_json_vec());
    // Assets outside the allowlist (403).
    let mut outside = doc.clone();
    outside.asset_prefix = Some("/etc/".into());
    write("outside.json", &outside.to_json_vec());
    std::fs::create_dir_all(dir.join("adir.json")).unwrap();
}

/// The mosaic a request names.
#[derive(Debug, Clone)]
enum Target {
    /// `/mosaicjson/...?url=` of a file in the fixture directory (`mosaic.json` is the
    /// good one).
    File(&'static str),
    /// `/mosaicjson/...?url=` of anything.
    Url(String),
    /// `/mosaicjson/...` without `url`.
    NoUrl,
    /// `/mosaics/{id}/...` (template `{dir}/{id}.json`).
    Id(String),
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        16 => Just(Target::File("mosaic.json")),
        1 => prop::sample::select(vec![
            "empty.json", "notjson.json", "truncated.json.gz", "missing.json", "garbage.json",
            "outside.json", "adir.json", "nope.json", "../mosaic.json", "./mosaic.json",
        ]).prop_map(Target::File),
        2 => prop_oneof![
            Just(String::new()),
            Just("mosaic.json".to_string()),
            Just("/etc/passwd".to_string()),
            Just("/".to_string()),
            Just(":memory:".to_string()),
            Just("http://169.254.169.254/latest/meta-data/".to_string()),
            Just("s3://bucket/m.json".to_string()),
            Just("dynamodb:///table:m".to_string()),
            Just("sqlite:///tmp/x.db:m".to_string()),
            Just("stac+https://example.invalid/search".to_string()),
            Just("ftp://example.invalid/m.json".to_string()),
            "\\PC{0,16}",
        ].prop_map(Target::Url),
        1 => Just(Target::NoUrl),
        3 => prop_oneof![
            4 => Just("mosaic".to_string()),
            1 => prop::sample::select(vec!["missing", "garbage", "nope", "..", ".", "a.b", "%2e%2e", "mosaic%00", "outside"])
                .prop_map(String::from),
            1 => "[a-zA-Z0-9_.%-]{0,12}",
        ].prop_map(Target::Id),
    ]
}

/// A number segment: near the reference tile, at the edges of `u64`, or not a number.
#[derive(Debug, Clone)]
enum Num {
    Near(i64),
    Raw(String),
}

fn num() -> impl Strategy<Value = Num> {
    prop_oneof![
        12 => (-2i64..3).prop_map(Num::Near),
        1 => prop::sample::select(vec![
            "0", "-1", "18446744073709551615", "18446744073709551616", "99999999999999999999999",
            "", "1e3", "+1", "0x1", "1.0", " 1", "%31", "%FF", "%", "1%00", "١",
        ]).prop_map(|s| Num::Raw(s.to_string())),
        1 => "\\PC{0,6}".prop_map(Num::Raw),
    ]
}

fn zoom() -> impl Strategy<Value = Num> {
    prop_oneof![
        10 => (-3i64..3).prop_map(Num::Near),
        2 => (0i64..=30).prop_map(|z| Num::Raw(z.to_string())),
        1 => prop::sample::select(vec![
            "31", "255", "256", "-1", "18446744073709551616", "", "1e1", "+10", "010", "%31%30",
        ]).prop_map(|s| Num::Raw(s.to_string())),
    ]
}

fn tms() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => Just("WebMercatorQuad".to_string()),
        3 => prop::sample::select(vec![
            "WorldMercatorWGS84Quad", "WGS1984Quad", "WorldCRS84Quad", "UPSArcticWGS84Quad",
            "UPSAntarcticWGS84Quad", "custom", "", "webmercatorquad", "%57ebMercatorQuad",
            "WebMercatorQuad.json", "..", "%FF", "%2F",
        ]).prop_map(String::from),
        1 => "\\PC{0,12}",
    ]
}

fn y_suffix() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just(String::new()),
        6 => prop::sample::select(vec![".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".npy", ".PNG"])
            .prop_map(String::from),
        3 => prop::sample::select(vec![
            "@1x", "@2x", "@4x", "@2x.png", "@4x.webp", "@0x", "@5x", "@x", "@2", "@-1x",
            "@18446744073709551617x", "@2x@2x", ".gif", ".", "..png", ".png.png", ".png%00",
            "%2Epng", "@2x.", ".pngraw", ".%FF",
        ]).prop_map(String::from),
        1 => "[@.x0-9a-z%]{0,8}",
    ]
}

#[derive(Debug, Clone)]
enum Route {
    Tile {
        suffix: String,
    },
    TileAssets,
    TileJson,
    Point(f64, f64),
    Bbox(f64, f64, f64),
    Info,
    Document,
    /// A raw segment after the prefix, e.g. unknown routes.
    Raw(String),
}

fn route() -> impl Strategy<Value = Route> {
    prop_oneof![
        12 => y_suffix().prop_map(|suffix| Route::Tile { suffix }),
        2 => Just(Route::TileAssets),
        1 => Just(Route::TileJson),
        1 => (-1.0f64..1.0, -1.0f64..1.0).prop_map(|(a, b)| Route::Point(a, b)),
        1 => (-1.0f64..1.0, -1.0f64..1.0, 0.0f64..0.5).prop_map(|(a, b, d)| Route::Bbox(a, b, d)),
        1 => Just(Route::Info),
        1 => Just(Route::Document),
        1 => prop::sample::select(vec![
            "tiles", "tiles/WebMercatorQuad", "WMTSCapabilities.xml", "info.geojson",
            "WebMercatorQuad/map.html", "point/1", "point/nan,nan", "point/1e400,0",
            "bbox/0,0,1/assets", "bbox/inf,0,1,1/assets", "nope", "tiles/WebMercatorQuad/1/2",
            "tiles/WebMercatorQuad/1/2/3/4", "%FF", "tiles/%FF/1/2/3", "validate",
        ]).prop_map(|s| Route::Raw(s.to_string())),
    ]
}

const PARAM_KEYS: &[&str] = &[
    "bidx",
    "rescale",
    "colormap",
    "colormap_name",
    "tilesize",
    "buffer",
    "padding",
    "pixel_selection",
    "nodata",
    "coord_crs",
    "resampling",
    "reproject",
    "return_mask",
    "reverse",
];

fn param_value(key: &'static str) -> BoxedStrategy<String> {
    let pick = |v: Vec<&'static str>| prop::sample::select(v).prop_map(String::from).boxed();
    let valid = match key {
        "bidx" => pick(vec!["1", "2", "3", "1,2,3", "3,2,1", "1,1", "0", "4", "99", "-1", "1,,2", "x", "18446744073709551616"]),
        "rescale" => prop_oneof![
            (0.0f64..10.0, 10.0f64..300.0).prop_map(|(a, b)| format!("{a},{b}")),
            pick(vec!["0,255", "255,0", "5,5", "nan,1", "0,inf", "-inf,inf", "1e400,2", "1", "a,b", ",", "0,1,2"]),
        ].boxed(),
        "colormap" => prop_oneof![
            prop::collection::vec(
                (prop_oneof![Just("0".to_string()), Just("1".to_string()), Just("255".to_string()),
                             Just("-1".to_string()), Just("x".to_string()), Just("1e3".to_string()),
                             Just("99999999999999999999".to_string())],
                 prop::collection::vec(prop_oneof![0.0f64..300.0, Just(-1.0), Just(1e300)], 2..6)),
                0..4,
            ).prop_map(|entries| {
                let m: serde_json::Map<String, Value> =
                    entries.into_iter().map(|(k, v)| (k, json!(v))).collect();
                Value::Object(m).to_string()
            }),
            pick(vec!["{", "[]", "null", "{\"1\": [1,2,3,4,5]}", "{\"1\": \"red\"}", "{\"1\": [NaN,0,0]}"]),
        ].boxed(),
        "colormap_name" => pick(vec!["viridis", "magma", "gray", "greys", "rdylgn", "cfastie", "VIRIDIS", "viridis_r", "nope", ""]),
        "tilesize" => prop_oneof![
            3 => (1usize..=128).prop_map(|t| t.to_string()),
            1 => pick(vec!["256", "512", "0", "4097", "-1", "abc", "1e2", "18446744073709551616", " 64 "]),
        ].boxed(),
        "buffer" => pick(vec!["0", "0.5", "1", "2.5", "16", "256.5", "-1", "nan", "inf", "1e400", "0.3", "x"]),
        "padding" => pick(vec!["0", "1", "2", "16", "257", "-1", "x", "18446744073709551616"]),
        "pixel_selection" => pick(vec!["first", "highest", "lowest", "mean", "median", "stdev", "count", "lastbandhigh", "lastbandlow", "best", "FIRST", ""]),
        "nodata" => pick(vec!["0", "nan", "NaN", "inf", "-inf", "1e400", "-9999", "x", "", "255", "-1e308"]),
        "coord_crs" => pick(vec!["EPSG:4326", "EPSG:3857", "EPSG:32633", "EPSG:0", "EPSG:999999", "epsg:4326", "foo", "", "EPSG:", "+proj=longlat"]),
        "resampling" | "reproject" => pick(vec!["nearest", "bilinear", "cubic", "cubic_spline", "lanczos", "average", "mode", "gauss", "rms", "max", "min", "med", "q1", "q3", "sum", "bogus", ""]),
        _ => pick(vec!["true", "false", "1", "0", "yes", "no", "maybe", ""]),
    };
    prop_oneof![12 => valid, 1 => "\\PC{0,8}"].boxed()
}

fn query_params() -> impl Strategy<Value = Vec<(String, String)>> {
    let pair = prop::sample::select(PARAM_KEYS)
        .prop_flat_map(|k| param_value(k).prop_map(move |v| (k.to_string(), v)));
    let odd = prop_oneof![
        8 => pair,
        1 => ("\\PC{0,6}", "\\PC{0,6}"),
    ];
    prop::collection::vec(odd, 0..5)
}

/// Query text appended as is: separators and broken percent-encodings.
fn raw_query_tail() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => Just(String::new()),
        1 => prop::sample::select(vec![
            "&", "&&", "=", "&=", "&=&", "%", "%ZZ", "%FF", "%FF=%FE", "&bidx", "&url=",
            "&url", "&a[]=1", "&tilesize=%31%36", "&colormap=%7B", "&rescale=0%2C255",
        ]).prop_map(String::from),
    ]
}

#[derive(Debug, Clone)]
struct Req {
    fixture: usize,
    target: Target,
    tms: String,
    z: Num,
    x: Num,
    y: Num,
    route: Route,
    params: Vec<(String, String)>,
    tail: String,
}

/// Parameter values the API accepts (the answer may still be a 400 for the combination,
/// e.g. a colormap on three bands).
fn clean_param() -> impl Strategy<Value = (String, String)> {
    let pick = |k: &'static str, v: Vec<&'static str>| {
        prop::sample::select(v).prop_map(move |v| (k.to_string(), v.to_string()))
    };
    prop_oneof![
        pick("bidx", vec!["1", "1,1"]),
        (0.0f64..100.0, 100.0f64..70000.0)
            .prop_map(|(a, b)| ("rescale".to_string(), format!("{a},{b}"))),
        pick(
            "colormap_name",
            vec![
                "viridis", "magma", "plasma", "inferno", "cividis", "gray", "grey", "greys",
                "greys_r", "rdylgn"
            ],
        ),
        pick(
            "colormap",
            vec!["{\"0\": [0,0,0,0], \"1\": [255,0,0,255], \"200\": [0,255,0]}"]
        ),
        (1usize..=512).prop_map(|t| ("tilesize".to_string(), t.to_string())),
        pick("buffer", vec!["0", "0.5", "1", "2.5", "16"]),
        (0usize..=16).prop_map(|p| ("padding".to_string(), p.to_string())),
        pick(
            "pixel_selection",
            vec![
                "first",
                "highest",
                "lowest",
                "mean",
                "median",
                "stdev",
                "count",
                "lastbandhigh",
                "lastbandlow"
            ]
        ),
        pick("nodata", vec!["0", "255", "nan", "-9999"]),
        pick(
            "resampling",
            vec![
                "nearest",
                "bilinear",
                "cubic",
                "cubic_spline",
                "lanczos",
                "average",
                "mode",
                "gauss",
                "rms"
            ]
        ),
        pick(
            "reproject",
            vec![
                "nearest", "bilinear", "cubic", "lanczos", "average", "max", "min", "med", "q1",
                "q3", "sum"
            ]
        ),
        pick("return_mask", vec!["true", "false"]),
        pick("reverse", vec!["true", "false"]),
    ]
}

/// A tile of the good mosaic near the reference tile, valid parameters: what reaches the
/// renderer and the encoders.
fn clean_request() -> impl Strategy<Value = Req> {
    (
        0..DTYPES.len(),
        (-1i64..=1, 0i64..=1, 0i64..=1),
        prop::sample::select(vec![
            "", ".png", ".jpg", ".webp", ".tif", ".npy", "@2x.png", "@2x",
        ]),
        prop::collection::vec(clean_param(), 0..4),
    )
        .prop_map(|(fixture, (z, x, y), suffix, params)| Req {
            fixture,
            target: Target::File("mosaic.json"),
            tms: "WebMercatorQuad".into(),
            z: Num::Near(z),
            x: Num::Near(x),
            y: Num::Near(y),
            route: Route::Tile {
                suffix: suffix.to_string(),
            },
            params,
            tail: String::new(),
        })
}

fn request() -> impl Strategy<Value = Req> {
    prop_oneof![hostile_request(), clean_request()]
}

/// Anything: odd paths, odd parameters, broken mosaics.
fn hostile_request() -> impl Strategy<Value = Req> {
    (
        0..DTYPES.len(),
        target(),
        tms(),
        (zoom(), num(), num()),
        route(),
        query_params(),
        raw_query_tail(),
    )
        .prop_map(
            |(fixture, target, tms, (z, x, y), route, params, tail)| Req {
                fixture,
                target,
                tms,
                z,
                x,
                y,
                route,
                params,
                tail,
            },
        )
}

/// Percent-encodes what cannot stand in a path segment (keeps `%` so encodings pass through).
fn segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~%@!$&'()*+,;=:".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Req {
    /// The request URI, and the format the path asks for (`None`: none or unknown).
    fn uri(&self, f: &Fixture) -> String {
        let t = &f.render["tile"];
        let (tx, ty, tz) = (
            t["x"].as_u64().unwrap() as i128,
            t["y"].as_u64().unwrap() as i128,
            t["z"].as_u64().unwrap() as i128,
        );
        let z: i128 = match &self.z {
            Num::Near(d) => tz + i128::from(*d),
            Num::Raw(_) => tz,
        };
        let scale = |v: i128| -> i128 {
            if z >= tz {
                v << (z - tz).min(40)
            } else {
                v >> (tz - z).min(40)
            }
        };
        let seg = |n: &Num, near: i128| match n {
            Num::Near(d) => (near + i128::from(*d)).to_string(),
            Num::Raw(s) => segment(s),
        };
        let zs = match &self.z {
            Num::Near(_) => z.to_string(),
            Num::Raw(s) => segment(s),
        };
        let (xs, ys) = (seg(&self.x, scale(tx)), seg(&self.y, scale(ty)));
        let tms = segment(&self.tms);
        let tile = format!("tiles/{tms}/{zs}/{xs}/{ys}");
        let rest = match &self.route {
            Route::Tile { suffix } => format!("{tile}{}", segment(suffix)),
            Route::TileAssets => format!("{tile}/assets"),
            Route::TileJson => format!("{tms}/tilejson.json"),
            Route::Point(dx, dy) => {
                let (x, y) = center(f);
                format!("point/{},{}", x + dx, y + dy)
            }
            Route::Bbox(dx, dy, d) => {
                let (x, y) = center(f);
                let (x, y) = (x + dx, y + dy);
                format!("bbox/{x},{y},{},{}/assets", x + d, y + d)
            }
            Route::Info => "info".into(),
            Route::Document => String::new(),
            Route::Raw(s) => s.clone(),
        };
        let dir = f.dir.path();
        let (prefix, url) = match &self.target {
            Target::File(name) => (
                "/mosaicjson".to_string(),
                Some(dir.join(name).display().to_string()),
            ),
            Target::Url(u) => ("/mosaicjson".to_string(), Some(u.clone())),
            Target::NoUrl => ("/mosaicjson".to_string(), None),
            Target::Id(id) => (format!("/mosaics/{}", segment(id)), None),
        };
        let mut q = form_urlencoded::Serializer::new(String::new());
        if let Some(u) = &url {
            q.append_pair("url", u);
        }
        for (k, v) in &self.params {
            q.append_pair(k, v);
        }
        let query = format!("{}{}", q.finish(), self.tail);
        format!("{prefix}/{rest}?{query}")
    }

    fn format(&self) -> Option<&'static str> {
        let Route::Tile { suffix } = &self.route else {
            return None;
        };
        let stem = suffix.split_once('@').map_or(suffix.as_str(), |(_, s)| s);
        let ext = stem.split_once('.').map(|(_, e)| e)?;
        match ext.to_ascii_lowercase().as_str() {
            "png" => Some("image/png"),
            "jpg" | "jpeg" => Some("image/jpeg"),
            "webp" => Some("image/webp"),
            "tif" | "tiff" => Some("image/tiff; application=geotiff"),
            "npy" => Some("application/x-binary"),
            _ => None,
        }
    }
}

/// Longitude and latitude of the reference tile's center.
fn center(f: &Fixture) -> (f64, f64) {
    let t = &f.render["tile"];
    let tile = mosaic::Tile::new(
        t["x"].as_u64().unwrap(),
        t["y"].as_u64().unwrap(),
        t["z"].as_u64().unwrap() as u8,
    );
    let [w, s, e, n] = mosaic::TileMatrixSet::web_mercator().bounds(tile);
    ((w + e) / 2.0, (s + n) / 2.0)
}

fn magic_ok(content_type: &str, body: &[u8]) -> bool {
    match content_type {
        "image/png" => body.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/jpeg" => body.starts_with(&[0xff, 0xd8]),
        "image/webp" => body.starts_with(b"RIFF") && body.get(8..12) == Some(b"WEBP"),
        "image/tiff; application=geotiff" => {
            body.starts_with(b"II*\0") || body.starts_with(b"MM\0*") || body.starts_with(b"II+\0")
        }
        "application/x-binary" => body.starts_with(b"\x93NUMPY"),
        _ => false,
    }
}

fn check_response(req: &Req, uri: &str) -> Result<(), TestCaseError> {
    let f = &fixtures()[req.fixture];
    let Ok(request) = Request::get(uri)
        .header("host", "tiler.test")
        .body(Body::empty())
    else {
        // Not a URI any HTTP server would hand to the router.
        return Ok(());
    };
    let (resp, body) = runtime().block_on(send(&f.router, request));
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = || String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
    if std::env::var_os("FUZZ_VERBOSE").is_some() {
        eprintln!(
            "{status} {uri} {}",
            if status >= 300 { text() } else { ctype.clone() }
        );
    }
    prop_assert!(status != 500, "500 for {uri}: {}", text());
    prop_assert!(
        status < 500 || status == 501 || status == 503,
        "undocumented {status} for {uri}: {}",
        text()
    );
    if status >= 400 {
        let v: Value = serde_json::from_slice(&body).map_err(|e| {
            TestCaseError::fail(format!(
                "{status} for {uri} is not JSON ({e}), content-type {ctype:?}: {:?}",
                text()
            ))
        })?;
        prop_assert!(
            v["detail"].is_string(),
            "{status} for {uri} has no `detail` string: {v}"
        );
    }
    if status == 204 {
        prop_assert!(body.is_empty(), "204 with a body for {uri}");
    }
    if status == 200 {
        match &req.route {
            Route::Tile { .. } => {
                prop_assert!(!body.is_empty(), "empty tile for {uri}");
                if let Some(want) = req.format() {
                    prop_assert_eq!(ctype.as_str(), want, "{}", uri);
                }
                prop_assert!(
                    magic_ok(&ctype, &body),
                    "tile for {uri} is not a {ctype} image"
                );
            }
            Route::TileAssets | Route::Bbox(..) => {
                let v: Value = serde_json::from_slice(&body)
                    .map_err(|e| TestCaseError::fail(format!("{uri}: {e}")))?;
                prop_assert!(
                    v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
                    "{uri}: {v}"
                );
            }
            Route::Point(..) => {
                let v: Value = serde_json::from_slice(&body)
                    .map_err(|e| TestCaseError::fail(format!("{uri}: {e}")))?;
                prop_assert!(
                    v["coordinates"].is_array() && v["assets"].is_array(),
                    "{uri}: {v}"
                );
            }
            Route::TileJson => {
                let v: Value = serde_json::from_slice(&body)
                    .map_err(|e| TestCaseError::fail(format!("{uri}: {e}")))?;
                prop_assert!(v["tiles"].is_array(), "{uri}: {v}");
            }
            _ => {}
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn router_tile_requests(req in request()) {
        let f = &fixtures()[req.fixture];
        let uri = req.uri(f);
        check_response(&req, &uri)?;
    }
}

/// Bad paths and methods are answered like every other bad request: JSON with `detail`.
#[test]
fn axum_rejections_answer_json() {
    let f = &fixtures()[0];
    let url: String = form_urlencoded::byte_serialize(f.mosaic.as_bytes()).collect();
    for (path, want) in [
        (format!("/mosaicjson/tiles/%FF/10/553/367?url={url}"), 400),
        (
            format!("/mosaicjson/tiles/WebMercatorQuad/10/553/%FF.png?url={url}"),
            400,
        ),
        ("/mosaics/%FF/info".to_string(), 400),
        (format!("/mosaicjson/validate?url={url}"), 405),
    ] {
        let req = Request::get(&path).body(Body::empty()).unwrap();
        let (resp, body) = runtime().block_on(send(&f.router, req));
        assert_eq!(resp.status(), want, "{path}");
        let v: Value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{path}: {e}: {:?}", String::from_utf8_lossy(&body)));
        assert!(v["detail"].is_string(), "{path}: {v}");
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// `POST /validate` with any body: `true`, or 422 with a `detail`.
    #[test]
    fn router_validate_bodies(
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            (any::<prop::sample::Index>(), prop::collection::vec((any::<usize>(), any::<u8>()), 0..4))
                .prop_map(|(i, edits)| {
                    let f = &fixtures()[i.index(DTYPES.len())];
                    let mut doc = std::fs::read(&f.mosaic).unwrap();
                    for (at, b) in edits {
                        let n = doc.len();
                        doc[at % n] = b;
                    }
                    doc
                }),
        ],
        gz in any::<bool>(),
    ) {
        let body = if gz { mosaic::mosaicjson::gzip(&body) } else { body };
        let f = &fixtures()[0];
        let req = Request::post("/mosaicjson/validate").body(Body::from(body.clone())).unwrap();
        let (resp, out) = runtime().block_on(send(&f.router, req));
        let status = resp.status().as_u16();
        let v: Value = serde_json::from_slice(&out).map_err(|e| TestCaseError::fail(format!("{status}: {e}")))?;
        match status {
            200 => prop_assert_eq!(v, json!(true)),
            422 => prop_assert!(v["detail"].is_string(), "{v}"),
            other => prop_assert!(false, "{other}: {v}"),
        }
        prop_assert_eq!(status == 200, mosaic::MosaicJson::from_slice(&body).is_ok());
    }
}

/// The broken mosaics of the fixture answer their documented statuses on the reference tile.
#[test]
fn broken_mosaics_answer_documented_statuses() {
    let f = &fixtures()[0];
    let t = &f.render["tile"];
    let dir = f.dir.path();
    for (name, want) in [
        ("mosaic.json", 200),
        ("missing.json", 424),
        ("garbage.json", 424),
        ("outside.json", 403),
        ("notjson.json", 400),
        ("empty.json", 400),
        ("truncated.json.gz", 400),
        ("nope.json", 404),
    ] {
        let url: String =
            form_urlencoded::byte_serialize(dir.join(name).to_string_lossy().as_bytes()).collect();
        let uri = format!(
            "/mosaicjson/tiles/WebMercatorQuad/{}/{}/{}.png?url={url}",
            t["z"], t["x"], t["y"]
        );
        let req = Request::get(&uri).body(Body::empty()).unwrap();
        let (resp, body) = runtime().block_on(send(&f.router, req));
        assert_eq!(
            resp.status().as_u16(),
            want,
            "{name}: {}",
            String::from_utf8_lossy(&body)
        );
    }
}

/// `coord_crs` went to GDAL as given: a URL was fetched (an allowlist bypass), a path
/// opened. Refused before GDAL sees it.
#[test]
fn coord_crs_is_never_fetched() {
    let f = &fixtures()[0];
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let url: String = form_urlencoded::byte_serialize(f.mosaic.as_bytes()).collect();
    for crs in [
        format!("http://127.0.0.1:{port}/crs"),
        "/etc/passwd".to_string(),
    ] {
        let c: String = form_urlencoded::byte_serialize(crs.as_bytes()).collect();
        let uri = format!("/mosaicjson/point/14.7,45.2/assets?url={url}&coord_crs={c}");
        let req = Request::get(&uri).body(Body::empty()).unwrap();
        let (resp, _) = runtime().block_on(send(&f.router, req));
        assert_eq!(resp.status(), 400, "{crs}");
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(
        listener.accept().is_err(),
        "GDAL connected to the coord_crs URL"
    );
}
