//! The viewer in a real browser: the local binary serves the demo mosaic, headless Chromium
//! opens `map.html` (MapLibre, WebGL on SwiftShader), and the screenshot must show mosaic
//! tiles inside the mosaic's bounds; a mosaic whose COGs are missing must show the failure
//! notice with the tiles' status and `detail`. The test waits for what the page shows (the
//! map's `idle`, the notice), never for a fixed time. Needs Debian's `chromium` (installed by
//! `infra/install-deps.sh`; override with `CHROMIUM`).

#[path = "browser/cdp.rs"]
mod cdp;
mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use cdp::Browser;
use common::KillOnDrop;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The local tiler on the demo mosaic (generated in `dir`), and the viewer URL it prints.
fn serve_demo(dir: &Path) -> (KillOnDrop, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tiler"))
        .env("PORT", free_port().to_string())
        .env("MOSAIC_DEMO_DIR", dir.join("demo"))
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env_remove("MOSAIC_ALLOWED_URLS")
        .env_remove("MOSAIC_BASEMAP_URL")
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = KillOnDrop(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("the viewer URL on stdout")
        .to_string();
    assert!(
        url.contains("/mosaicjson/WebMercatorQuad/map.html?url="),
        "{url}"
    );
    (server, url)
}

const WINDOW: (u32, u32) = (900, 650);

/// How long the page may take to draw or to report a failure (a debug tiler, WebGL in
/// software, 2 cores).
const PATIENCE: Duration = Duration::from_secs(90);

/// The failure notice's text, empty while it is hidden.
const NOTICE: &str = "(() => { const n = document.getElementById('notice'); \
    return n.style.display === 'block' ? n.innerText : ''; })()";

/// Opens `url` and waits for the failure notice; its text.
fn failure_notice(browser: &mut Browser, url: &str) -> String {
    browser.navigate(url);
    browser.wait_for(&format!("{NOTICE} !== ''"), PATIENCE, "the failure notice");
    browser
        .eval(NOTICE)
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The box the bounds outline (`#dd00ff`) draws: (left, top, right, bottom) in pixels.
fn outline_box(img: &image::RgbImage) -> (u32, u32, u32, u32) {
    let (mut l, mut t, mut r, mut b) = (u32::MAX, u32::MAX, 0, 0);
    for (x, y, p) in img.enumerate_pixels() {
        let [red, green, blue] = p.0;
        if red.abs_diff(221) < 20 && green < 30 && blue > 230 {
            (l, t, r, b) = (l.min(x), t.min(y), r.max(x), b.max(y));
        }
    }
    assert!(l < r && t < b, "no bounds outline in the screenshot");
    (l, t, r, b)
}

/// Web Mercator width / height of `[west, south, east, north]`.
fn mercator_aspect(b: &[f64]) -> f64 {
    let y = |lat: f64| {
        (std::f64::consts::FRAC_PI_4 + lat.to_radians() / 2.0)
            .tan()
            .ln()
    };
    (b[2] - b[0]).to_radians() / (y(b[3]) - y(b[1]))
}

#[test]
fn the_viewer_draws_tiles_inside_the_bounds_and_reports_failing_tiles() {
    let tmp = tempfile::tempdir().unwrap();
    let (_server, url) = serve_demo(tmp.path());

    // The demo: tiles drawn inside the outline of the mosaic's bounds, no failure notice.
    // The page marks itself ready on the map's first `idle`: every tile loaded and drawn.
    let mut browser = Browser::start(&tmp.path().join("profile"), WINDOW);
    browser.navigate(&url);
    browser.wait_for(
        "document.body.dataset.ready === 'true'",
        PATIENCE,
        "the demo drawn",
    );
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("map-screenshot.png");
    std::fs::write(&shot, browser.screenshot()).unwrap();
    let img = image::open(&shot).expect("a screenshot").to_rgb8();
    let (l, t, r, b) = outline_box(&img);
    let demo: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("demo/mosaic.json")).unwrap(),
    )
    .unwrap();
    let bounds: Vec<f64> = serde_json::from_value(demo["bounds"].clone()).unwrap();
    let drawn = f64::from(r - l) / f64::from(b - t);
    assert!(
        (drawn / mercator_aspect(&bounds) - 1.0).abs() < 0.05,
        "the outline ({l},{t})-({r},{b}) is not the mosaic's bounds {bounds:?}"
    );
    // The page's background is #dfe3e8; a mosaic pixel differs from it.
    let background = [223u8, 227, 232];
    let inset = 4;
    let (mut inside, mut tiles) = (0u32, 0u32);
    for y in t + inset..b - inset {
        for x in l + inset..r - inset {
            inside += 1;
            let p = img.get_pixel(x, y).0;
            if p.iter().zip(background).any(|(a, b)| a.abs_diff(b) > 30) {
                tiles += 1;
            }
        }
    }
    let share = f64::from(tiles) / f64::from(inside);
    eprintln!(
        "screenshot {}: {:.1} % of the pixels inside the bounds are mosaic tiles",
        shot.display(),
        share * 100.0
    );
    assert!(
        share > 0.3,
        "too few drawn tiles inside the bounds ({:.2} %): see {}",
        share * 100.0,
        shot.display()
    );
    assert_eq!(
        browser.eval("document.querySelectorAll('canvas.maplibregl-canvas').length"),
        1,
        "no MapLibre map"
    );
    assert_eq!(browser.eval(NOTICE), "", "a notice on the demo");

    // The same mosaic with its COGs gone: every tile answers 424, and the notice says so.
    let mut broken = demo.clone();
    for assets in broken["tiles"].as_object_mut().unwrap().values_mut() {
        for asset in assets.as_array_mut().unwrap() {
            let name = asset
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string();
            *asset = tmp.path().join("gone").join(name).to_string_lossy().into();
        }
    }
    let broken_path = tmp.path().join("broken.json");
    std::fs::write(&broken_path, broken.to_string()).unwrap();
    let demo_path = tmp.path().join("demo/mosaic.json");
    let encode = |p: &Path| {
        url::form_urlencoded::byte_serialize(p.to_string_lossy().as_bytes()).collect::<String>()
    };
    let broken_url = url.replace(&encode(&demo_path), &encode(&broken_path));
    assert_ne!(broken_url, url);
    let text = failure_notice(&mut browser, &broken_url);
    assert!(text.contains("Some tiles failed to load"), "{text}");
    assert!(text.contains("HTTP 424"), "{text}");
    assert!(text.contains("No such file or directory"), "{text}");
    assert!(
        text.contains(&tmp.path().join("gone").to_string_lossy().into_owned()),
        "{text}"
    );

    // A mosaic that is not there: the TileJSON request's status and detail.
    let missing_url = url.replace(
        &encode(&demo_path),
        &encode(&tmp.path().join("absent.json")),
    );
    let text = failure_notice(&mut browser, &missing_url);
    assert!(text.contains("The mosaic could not be opened"), "{text}");
    assert!(text.contains("TileJSON: HTTP 404"), "{text}");
    assert!(text.contains("mosaic not found"), "{text}");
}
