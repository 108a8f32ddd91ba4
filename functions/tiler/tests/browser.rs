//! The viewer in a real browser: the local binary serves the demo mosaic, headless Chromium
//! opens `map.html`, and the screenshot must show mosaic tiles (saturated pixels in the map).
//! Needs Debian's `chromium` (installed by `infra/install-deps.sh`; override with `CHROMIUM`).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn chromium() -> String {
    let path = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&path).exists(),
        "headless Chromium not found at {path}: run `bash infra/install-deps.sh` (or set CHROMIUM)"
    );
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn map_html_draws_mosaic_tiles() {
    let browser = chromium();
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tiler"))
        .env("PORT", port.to_string())
        .env("MOSAIC_DEMO_DIR", tmp.path().join("demo"))
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env_remove("MOSAIC_ALLOWED_URLS")
        .current_dir(tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _server = Server(child);
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

    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("map-screenshot.png");
    let _ = std::fs::remove_file(&shot);
    let started = Instant::now();
    let status = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=900,650",
            "--virtual-time-budget=15000",
        ])
        .arg(format!(
            "--user-data-dir={}",
            tmp.path().join("profile").display()
        ))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "chromium failed");
    assert!(started.elapsed() < Duration::from_secs(120));
    let img = image::open(&shot).expect("a screenshot").to_rgb8();
    // Tiles are saturated stripes; the page background and panel are grey/white.
    let saturated = img
        .pixels()
        .filter(|p| {
            let (mx, mn) = (p.0.iter().max().unwrap(), p.0.iter().min().unwrap());
            mx - mn > 60
        })
        .count();
    let share = saturated as f64 / (img.width() * img.height()) as f64;
    eprintln!(
        "screenshot {}: {:.1} % of the pixels are mosaic tiles",
        shot.display(),
        share * 100.0
    );
    assert!(
        share > 0.05,
        "too few drawn tiles ({:.2} %): see {}",
        share * 100.0,
        shot.display()
    );
}
