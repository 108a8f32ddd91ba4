//! The security issue's reproducers, each against the router (in process) or the `tiler`
//! binary (with its egress proxy), on loopback only: GDAL syntax in assets, local files
//! outside the allowlist, `file://HOST/`, redirects, bombs and oversized requests, hanging
//! hosts, metadata addresses in every spelling.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::StatusCode;
use common::{get, q, refdata};
use mosaic::create::{CreateOptions, Footprint};
use mosaic::{MosaicJson, Tile, TileMatrixSet};
use serde_json::Value;
use tiler::{AllowList, AppState, Config, app};

/// A reference COG, its bounds and a tile inside it.
struct Cog {
    path: PathBuf,
    bounds: [f64; 4],
    tile: Tile,
    zooms: (u8, u8),
}

/// The first COG of the reference set (whatever its name) and a tile at its centre.
fn cog() -> Cog {
    let dir = std::fs::canonicalize(refdata().join("cogs")).unwrap();
    let mut tifs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tif"))
        .collect();
    tifs.sort();
    let path = tifs.into_iter().next().expect("a COG in the reference set");
    let tms = TileMatrixSet::builtin("WebMercatorQuad").unwrap();
    let info = mosaic::dataset::dataset_info(&path.to_string_lossy(), &tms).unwrap();
    let b = info.bounds;
    let z = info.maxzoom.saturating_sub(1).max(info.minzoom);
    Cog {
        tile: tms.tile((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0, z),
        path,
        bounds: b,
        zooms: (info.minzoom, info.maxzoom),
    }
}

/// A mosaic whose only asset is `asset`, placed over the COG's footprint.
fn mosaic_of(asset: &str, c: &Cog) -> MosaicJson {
    let fp = Footprint::from_bbox(asset, c.bounds);
    MosaicJson::from_footprints(&[fp], &CreateOptions::new(c.zooms.0, c.zooms.1)).unwrap()
}

fn write_mosaic(dir: &Path, name: &str, doc: &MosaicJson) -> String {
    let path = dir.join(name);
    std::fs::write(&path, doc.to_json_vec()).unwrap();
    path.to_string_lossy().into_owned()
}

fn router(allowed: &[&Path]) -> axum::Router {
    let list: Vec<String> = allowed
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    app(AppState::new(Config::new(AllowList::of(&list))))
}

fn tile_url(c: &Cog, mosaic: &str) -> String {
    let t = c.tile;
    format!(
        "/mosaicjson/tiles/WebMercatorQuad/{}/{}/{}.png?url={}",
        t.z,
        t.x,
        t.y,
        q(mosaic)
    )
}

fn detail(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body).unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Allowed folder, outside folder with a secret GeoTIFF (a copy of the COG).
fn folders(c: &Cog) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let allowed = root.path().join("allowed");
    let outside = root.path().join("outside");
    std::fs::create_dir_all(&allowed).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::copy(&c.path, outside.join("secret.tif")).unwrap();
    let allowed = std::fs::canonicalize(allowed).unwrap();
    let outside = std::fs::canonicalize(outside).unwrap();
    (root, allowed, outside)
}

/// Item 1: a MEM dataset over a raw pointer, plain or inside an inline VRT, is refused
/// before GDAL sees it (it segfaulted the process before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mem_datapointer_assets_are_refused_without_crashing() {
    let c = cog();
    let (_root, allowed, _) = folders(&c);
    let r = router(&[&allowed]);
    let mem = "MEM:::DATAPOINTER=0x10,PIXELS=1024,LINES=1024,BANDS=3,DATATYPE=Byte";
    let vrt = format!(
        "<VRTDataset rasterXSize=\"1024\" rasterYSize=\"1024\"><SRS>EPSG:3857</SRS><GeoTransform>0,1,0,0,0,-1</GeoTransform><VRTRasterBand dataType=\"Byte\" band=\"1\"><SimpleSource><SourceFilename>{mem}</SourceFilename><SourceBand>1</SourceBand></SimpleSource></VRTRasterBand></VRTDataset>"
    );
    for (i, asset) in [mem.to_string(), vrt].iter().enumerate() {
        let m = write_mosaic(&allowed, &format!("mem{i}.json"), &mosaic_of(asset, &c));
        let (resp, body) = get(&r, &tile_url(&c, &m)).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{asset}");
        assert!(detail(&body).contains("refused"), "{}", detail(&body));
    }
    // The process is still serving.
    assert_eq!(get(&r, "/healthz").await.0.status(), StatusCode::OK);
}

/// Item 2: GTIFF_DIR connection strings (as asset or asset_prefix), `..` before a `://`,
/// and symlinks out of the allowed folder never reach a file outside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_files_outside_the_allowlist_are_not_read() {
    let c = cog();
    let (_root, allowed, outside) = folders(&c);
    let r = router(&[&allowed]);
    let secret = outside.join("secret.tif");
    let secret = secret.to_string_lossy();
    let mut cases = vec![
        ("gtiff_dir", mosaic_of(&format!("GTIFF_DIR:1:{secret}"), &c)),
        (
            "traversal_before_scheme",
            mosaic_of(
                &format!("{}/../outside/evil://host/secret.tif", allowed.display()),
                &c,
            ),
        ),
    ];
    let mut prefixed = mosaic_of("secret.tif", &c);
    prefixed.asset_prefix = Some(format!("GTIFF_DIR:1:{}/", outside.display()));
    cases.push(("asset_prefix", prefixed));
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&*secret, allowed.join("link.tif")).unwrap();
        cases.push((
            "symlinked_asset",
            mosaic_of(&allowed.join("link.tif").to_string_lossy(), &c),
        ));
    }
    for (name, doc) in &cases {
        let m = write_mosaic(&allowed, &format!("{name}.json"), doc);
        let (resp, body) = get(&r, &tile_url(&c, &m)).await;
        assert_eq!(
            resp.status(),
            StatusCode::FORBIDDEN,
            "{name}: {}",
            detail(&body)
        );
        let (lon, lat) = (
            (c.bounds[0] + c.bounds[2]) / 2.0,
            (c.bounds[1] + c.bounds[3]) / 2.0,
        );
        let (resp, body) = get(&r, &format!("/mosaicjson/point/{lon},{lat}?url={}", q(&m))).await;
        assert_eq!(
            resp.status(),
            StatusCode::FORBIDDEN,
            "{name} point: {}",
            detail(&body)
        );
    }
    // A mosaic document that is a symlink to one outside the folder.
    #[cfg(unix)]
    {
        let out_doc = write_mosaic(&outside, "m.json", &mosaic_of(&secret, &c));
        std::os::unix::fs::symlink(&out_doc, allowed.join("m.json")).unwrap();
        let (resp, _) = get(
            &r,
            &format!(
                "/mosaicjson/info?url={}",
                q(&allowed.join("m.json").to_string_lossy())
            ),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    }
}

/// Item 2: a VRT inside the allowed folder (named .vrt or disguised as .tif) pointing
/// outside is not opened: only the GTiff driver reads assets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vrt_files_in_the_allowed_folder_are_not_opened() {
    let c = cog();
    let (_root, allowed, outside) = folders(&c);
    let r = router(&[&allowed]);
    // A complete, georeferenced VRT of the secret, written by GDAL's own VRT driver: the
    // GTiff-only open is what keeps it from rendering.
    let src = gdal::Dataset::open(outside.join("secret.tif")).unwrap();
    let made = allowed.join("made.vrt");
    let driver = gdal::DriverManager::get_driver_by_name("VRT").unwrap();
    drop(
        src.create_copy(
            &driver,
            &made,
            &gdal::raster::RasterCreationOptions::default(),
        )
        .unwrap(),
    );
    drop(src);
    let vrt = std::fs::read_to_string(&made).unwrap();
    std::fs::remove_file(&made).unwrap();
    for name in ["evil.vrt", "innocent.tif"] {
        std::fs::write(allowed.join(name), &vrt).unwrap();
        let asset = allowed.join(name).to_string_lossy().into_owned();
        let m = write_mosaic(&allowed, &format!("{name}.json"), &mosaic_of(&asset, &c));
        let (resp, body) = get(&r, &tile_url(&c, &m)).await;
        // Unreadable asset (424), never a render of the secret.
        assert_eq!(
            resp.status(),
            StatusCode::FAILED_DEPENDENCY,
            "{name}: {body:?}"
        );
    }
}

/// Item 3: `file://HOST/path` is refused, so `/etc/passwd` and `/dev/zero` are not opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_urls_with_a_host_are_refused() {
    let c = cog();
    let (_root, allowed, _) = folders(&c);
    let cwd = std::env::current_dir().unwrap();
    let r = router(&[&allowed, &cwd]);
    for url in [
        "file://x/etc/passwd",
        "file://x/dev/zero",
        "file://evil.example/etc/hosts",
    ] {
        let (resp, body) = get(&r, &format!("/mosaicjson/info?url={}", q(url))).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{url}");
        assert!(detail(&body).contains("local path"), "{}", detail(&body));
    }
}

/// Item 5: a gzip bomb posted to /validate or stored as a mosaic, a world bbox on a deep
/// quadkey zoom, an oversized tile grid: each a 413 with a `detail`, none allocated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bombs_and_oversized_requests_are_refused() {
    use std::io::Write;
    let c = cog();
    let (_root, allowed, _) = folders(&c);
    let r = router(&[&allowed, c.path.parent().unwrap()]);
    // 1 MB of gzip expanding to 1 GiB of spaces.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..1024 {
        enc.write_all(&chunk).unwrap();
    }
    let bomb = enc.finish().unwrap();
    let (resp, body) = common::send(
        &r,
        axum::http::Request::post("/mosaicjson/validate")
            .body(axum::body::Body::from(bomb.clone()))
            .unwrap(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(detail(&body).contains("MOSAIC_MAX_DOCUMENT_BYTES"));
    std::fs::write(allowed.join("bomb.json.gz"), &bomb).unwrap();
    let bomb_url = allowed.join("bomb.json.gz").to_string_lossy().into_owned();
    let (resp, _) = get(&r, &format!("/mosaicjson/info?url={}", q(&bomb_url))).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // A world bbox on a mosaic whose quadkey zoom is 12: 16.7 M quadkeys.
    let mut doc = mosaic_of(&c.path.to_string_lossy(), &c);
    doc.quadkey_zoom = Some(12);
    doc.minzoom = 12;
    doc.maxzoom = 14;
    doc.tiles.clear();
    doc.tiles.insert("0".repeat(12), vec!["a.tif".into()]);
    let deep = write_mosaic(&allowed, "deep.json", &doc);
    let (resp, body) = get(
        &r,
        &format!("/mosaicjson/bbox/-180,-85,180,85/assets?url={}", q(&deep)),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(detail(&body).contains("MOSAIC_MAX_LOOKUP_QUADKEYS"));

    let m = write_mosaic(
        &allowed,
        "m.json",
        &mosaic_of(&c.path.to_string_lossy(), &c),
    );
    let (resp, body) = get(
        &r,
        &format!("{}&tilesize=4096&buffer=256&padding=256", tile_url(&c, &m)),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(detail(&body).contains("MOSAIC_MAX_TILE_PIXELS"));
    // Within the budget the same request renders.
    let (resp, _) = get(&r, &format!("{}&tilesize=512", tile_url(&c, &m))).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

/// Item 7: with `*`, the metadata address in every spelling, loopback and private
/// addresses are refused before any request is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_and_loopback_spellings_are_refused_under_star() {
    let r = app(AppState::new(Config::new(AllowList::parse("*"))));
    for url in [
        "http://169.254.169.254/latest/meta-data/m.json",
        "http://2852039166/m.json",
        "http://0xa9fea9fe/m.json",
        "http://0251.0376.0251.0376/m.json",
        "http://[::ffff:169.254.169.254]/m.json",
        "http://[::ffff:a9fe:a9fe]/m.json",
        "http://user@169.254.169.254/m.json",
        "http://metadata.google.internal./m.json",
        "http://127.0.0.1:1/m.json",
        "http://localhost:1/m.json",
        "http://10.0.0.1/m.json",
    ] {
        let (resp, body) = get(&r, &format!("/mosaicjson/info?url={}", q(url))).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{url}: {body:?}");
    }
}

// ---- through the binary and its egress proxy ------------------------------------------

/// A loopback HTTP server: `/cogs/NAME` serves the reference COGs with ranges,
/// `/redirect/X` answers 302 to `target` + X, `/hang/...` never answers.
struct Origin {
    port: u16,
    hits: Arc<AtomicUsize>,
}

async fn serve_origin(dir: PathBuf, redirect_to: Option<String>) -> Origin {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                continue;
            };
            h.fetch_add(1, Ordering::SeqCst);
            let (dir, redirect_to) = (dir.clone(), redirect_to.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let mut chunk = [0u8; 4096];
                    let n = match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_string();
                    buf.drain(..end + 4);
                    let mut lines = head.lines();
                    let first = lines.next().unwrap_or("");
                    let mut parts = first.split(' ');
                    let method = parts.next().unwrap_or("");
                    let path = parts.next().unwrap_or("/").to_string();
                    let range = lines
                        .filter_map(|l| l.split_once(':'))
                        .find(|(k, _)| k.eq_ignore_ascii_case("range"))
                        .map(|(_, v)| v.trim().to_string());
                    let resp: Vec<u8> = if path.starts_with("/hang") {
                        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                        return;
                    } else if let (Some(rest), Some(to)) =
                        (path.strip_prefix("/redirect/"), redirect_to.as_ref())
                    {
                        format!(
                            "HTTP/1.1 302 Found\r\nLocation: {to}{rest}\r\nContent-Length: 0\r\n\r\n"
                        )
                        .into_bytes()
                    } else {
                        let name = path.rsplit('/').next().unwrap_or("");
                        match std::fs::read(dir.join(name)) {
                            Ok(data) => {
                                let total = data.len();
                                let (a, b, status) = match range
                                    .as_deref()
                                    .and_then(|r| r.strip_prefix("bytes="))
                                    .and_then(|r| r.split_once('-'))
                                {
                                    Some((a, b)) => {
                                        let a: usize = a.parse().unwrap_or(0).min(total);
                                        let b: usize =
                                            b.parse().unwrap_or(total - 1).min(total - 1).max(a);
                                        (a, b + 1, "206 Partial Content")
                                    }
                                    None => (0, total, "200 OK"),
                                };
                                let mut r = format!(
                                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\nContent-Range: bytes {a}-{}/{total}\r\n\r\n",
                                    b - a,
                                    b.saturating_sub(1)
                                )
                                .into_bytes();
                                if method != "HEAD" {
                                    r.extend_from_slice(&data[a..b]);
                                }
                                r
                            }
                            Err(_) => {
                                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec()
                            }
                        }
                    };
                    if s.write_all(&resp).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Origin { port, hits }
}

/// The `tiler` binary serving on an ephemeral loopback port.
struct Server {
    child: common::KillOnDrop,
    base: String,
}

fn spawn_tiler(allowed: &str, mosaic: &str, extra_env: &[(&str, &str)]) -> Server {
    use std::io::BufRead;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tiler"));
    cmd.arg(mosaic)
        .env("PORT", "0")
        .env("MOSAIC_ALLOWED_URLS", allowed)
        .env("RUST_LOG", "warn")
        .env_remove("GDAL_HTTP_PROXY")
        .env_remove("MOSAIC_EGRESS_PROXY")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .and_then(|u| u.split("/mosaicjson").next())
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    Server {
        child: common::KillOnDrop(child),
        base,
    }
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn fetch(url: &str) -> (u16, Vec<u8>) {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(90))
        .build()
        .unwrap();
    let resp = client.get(url).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.bytes().await.unwrap().to_vec())
}

/// Item 4: an allowed origin redirecting to another port is not followed, for mosaics
/// (object_store) and for assets (GDAL), through the binary's egress proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_to_hosts_outside_the_allowlist_are_not_followed() {
    let c = cog();
    let cogs = c.path.parent().unwrap().to_path_buf();
    let canary = serve_origin(cogs.clone(), None).await;
    let origin = serve_origin(
        cogs.clone(),
        Some(format!("http://127.0.0.1:{}/", canary.port)),
    )
    .await;
    let name = c.path.file_name().unwrap().to_string_lossy().into_owned();
    let dir = tempfile::tempdir().unwrap();
    let dir_path = std::fs::canonicalize(dir.path()).unwrap();
    // The asset redirects to the canary; the document lives in the allowed folder.
    let redirected = format!("http://127.0.0.1:{}/redirect/{name}", origin.port);
    let direct = format!("http://127.0.0.1:{}/cogs/{name}", origin.port);
    let m_redirect = write_mosaic(&dir_path, "r.json", &mosaic_of(&redirected, &c));
    let m_direct = write_mosaic(&dir_path, "d.json", &mosaic_of(&direct, &c));
    let allowed = format!("{},http://127.0.0.1:{}/", dir_path.display(), origin.port);
    let server = spawn_tiler(&allowed, &m_direct, &[]);
    let t = c.tile;
    let tile = |m: &str| {
        format!(
            "{}/mosaicjson/tiles/WebMercatorQuad/{}/{}/{}.png?url={}",
            server.base,
            t.z,
            t.x,
            t.y,
            q(m)
        )
    };
    // Allowed origin, no redirect: renders (the proxy lets named loopback hosts through).
    let (status, _) = fetch(&tile(&m_direct)).await;
    assert_eq!(status, 200);
    assert!(origin.hits.load(Ordering::SeqCst) > 0);
    // The asset's redirect is refused at the proxy: unreadable asset, canary untouched.
    let (status, _) = fetch(&tile(&m_redirect)).await;
    assert_eq!(status, 424);
    // A mosaic document behind a redirect.
    let doc_redirect = format!("http://127.0.0.1:{}/redirect/doc.json", origin.port);
    let (status, _) = fetch(&format!(
        "{}/mosaicjson/info?url={}",
        server.base,
        q(&doc_redirect)
    ))
    .await;
    assert!(status >= 400, "{status}");
    assert_eq!(
        canary.hits.load(Ordering::SeqCst),
        0,
        "the canary was reached"
    );
}

/// Items 5 and 6: the binary keeps its memory under the budget while three gzip bombs are
/// posted at once, and a host that accepts and never answers fails the tile in bounded time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bombs_keep_memory_flat_and_hanging_hosts_time_out() {
    use std::io::Write;
    let c = cog();
    let cogs = c.path.parent().unwrap().to_path_buf();
    let origin = serve_origin(cogs, None).await;
    let dir = tempfile::tempdir().unwrap();
    let dir_path = std::fs::canonicalize(dir.path()).unwrap();
    let hang = format!("http://127.0.0.1:{}/hang/x.tif", origin.port);
    let m_hang = write_mosaic(&dir_path, "h.json", &mosaic_of(&hang, &c));
    let allowed = format!("{},http://127.0.0.1:{}/", dir_path.display(), origin.port);
    let server = spawn_tiler(&allowed, &m_hang, &[]);
    let pid = server.child.0.id();

    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..1024 {
        enc.write_all(&chunk).unwrap();
    }
    let bomb = enc.finish().unwrap();
    for i in 0..3 {
        std::fs::write(dir_path.join(format!("bomb{i}.json.gz")), &bomb).unwrap();
    }
    let before = rss_kib(pid, "VmHWM");
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut tasks = Vec::new();
    for i in 0..3 {
        let (client, base, bomb) = (client.clone(), server.base.clone(), bomb.clone());
        let doc = dir_path.join(format!("bomb{i}.json.gz"));
        tasks.push(tokio::spawn(async move {
            let a = client
                .post(format!("{base}/mosaicjson/validate"))
                .body(bomb)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16();
            let b = client
                .get(format!(
                    "{base}/mosaicjson/info?url={}",
                    q(&doc.to_string_lossy())
                ))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16();
            (a, b)
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), (413, 413));
    }
    let after = rss_kib(pid, "VmHWM");
    // Three 1 GiB expansions at once used to take 3.1 GB; the budget is 64 MiB each.
    assert!(
        after < before + 400 * 1024,
        "peak RSS grew from {before} KiB to {after} KiB"
    );

    let t = c.tile;
    let started = std::time::Instant::now();
    let (status, _) = fetch(&format!(
        "{}/mosaicjson/tiles/WebMercatorQuad/{}/{}/{}.png?url={}",
        server.base,
        t.z,
        t.x,
        t.y,
        q(&m_hang)
    ))
    .await;
    assert_eq!(status, 424);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(75),
        "a hanging host held the tile for {:?}",
        started.elapsed()
    );
}

/// Item 7, after name resolution: under `*`, a name that resolves to a loopback address
/// (this machine's own host name, when it does) is refused by the egress proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_resolving_to_loopback_are_refused_at_connection() {
    let c = cog();
    let origin = serve_origin(c.path.parent().unwrap().to_path_buf(), None).await;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .to_string();
    let resolves_private = tokio::net::lookup_host((host.as_str(), 80))
        .await
        .map(|mut a| {
            a.any(|a| mosaic::gate::classify_ip(a.ip()) != mosaic::gate::HostClass::Public)
        })
        .unwrap_or(false);
    let dir = tempfile::tempdir().unwrap();
    let dir_path = std::fs::canonicalize(dir.path()).unwrap();
    let name = c.path.file_name().unwrap().to_string_lossy().into_owned();
    let by_name = format!("http://{host}:{}/cogs/{name}", origin.port);
    let m = write_mosaic(&dir_path, "n.json", &mosaic_of(&by_name, &c));
    let server = spawn_tiler("*", &m, &[]);
    let t = c.tile;
    let (status, _) = fetch(&format!(
        "{}/mosaicjson/tiles/WebMercatorQuad/{}/{}/{}.png?url={}",
        server.base,
        t.z,
        t.x,
        t.y,
        q(&m)
    ))
    .await;
    if resolves_private {
        assert_eq!(status, 424, "{host} resolves to a private address");
        assert_eq!(origin.hits.load(Ordering::SeqCst), 0);
    } else {
        eprintln!("{host} resolves to a public address here: nothing to refuse");
    }
}

/// Item 8: the `Host` header reaches self-referencing URLs only as a plain authority, and
/// `MOSAIC_PUBLIC_URL` replaces it entirely.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_headers_are_not_reflected_raw() {
    let c = cog();
    let (_root, allowed, _) = folders(&c);
    let m = write_mosaic(
        &allowed,
        "m.json",
        &mosaic_of(&c.path.to_string_lossy(), &c),
    );
    let tilejson = |router: axum::Router, host: &'static str, proto: &'static str| {
        let m = m.clone();
        async move {
            let (resp, body) = common::send(
                &router,
                axum::http::Request::get(format!(
                    "/mosaicjson/WebMercatorQuad/tilejson.json?url={}",
                    q(&m)
                ))
                .header("host", host)
                .header("x-forwarded-proto", proto)
                .body(axum::body::Body::empty())
                .unwrap(),
            )
            .await;
            assert_eq!(resp.status(), StatusCode::OK);
            let v: Value = serde_json::from_slice(&body).unwrap();
            v["tiles"][0].as_str().unwrap().to_string()
        }
    };
    let r = router(&[&allowed]);
    let url = tilejson(r.clone(), "evil.example\"><script>x</script>", "javascript").await;
    assert!(
        url.starts_with("http://localhost/mosaicjson/tiles/"),
        "{url}"
    );
    let url = tilejson(r, "tiles.example.com:8443", "https").await;
    assert!(
        url.starts_with("https://tiles.example.com:8443/mosaicjson/"),
        "{url}"
    );
    let mut config = Config::new(AllowList::of(&[allowed.to_string_lossy().into_owned()]));
    config.public_url = Some("https://maps.example.org/v1".into());
    let pinned = app(AppState::new(config));
    let url = tilejson(pinned, "evil.example", "http").await;
    assert!(
        url.starts_with("https://maps.example.org/v1/mosaicjson/tiles/"),
        "{url}"
    );
}
