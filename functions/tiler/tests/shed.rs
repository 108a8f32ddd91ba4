//! Admission control (`src/shed.rs`): requests beyond `MOSAIC_MAX_INFLIGHT` wait for a slot at
//! most `MOSAIC_QUEUE_TIMEOUT_MS`, then get 503 + `Retry-After` + a JSON detail; `/healthz`
//! is never held back; a finished request frees its slot. On the real router (`app()`, a
//! request holds its slot while its body has not arrived) and on the layer alone around slow
//! handlers.

mod common;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode, header};
use axum::routing::get as get_route;
use common::{fixture, get, q, send};
use serde_json::Value;
use tiler::shed::ShedLayer;
use tiler::{AppState, Config, app};
use tokio::sync::oneshot;
use tower::ServiceExt;

/// The real router of the fixture's mosaic with these admission settings.
fn router_with(f: &common::Fixture, max_inflight: usize, queue_timeout_ms: u64) -> Router {
    let mut config: Config = (*f.state.config).clone();
    config.max_inflight = max_inflight;
    config.queue_timeout = Duration::from_millis(queue_timeout_ms);
    app(AppState::new(config))
}

/// Starts `POST /mosaicjson/validate` whose body arrives only when the returned sender fires:
/// the request holds a slot from the moment its handler reads the body (the first receiver
/// resolves then) until released. The task yields the final status.
async fn hold_slot(router: &Router) -> (oneshot::Sender<()>, tokio::task::JoinHandle<StatusCode>) {
    let (started_tx, started_rx) = oneshot::channel::<()>();
    let (release_tx, release_rx) = oneshot::channel::<()>();
    let body = Body::from_stream(futures::stream::once(async move {
        let _ = started_tx.send(());
        let _ = release_rx.await;
        Ok::<_, Infallible>(Bytes::from_static(b"{}"))
    }));
    let req = Request::post("/mosaicjson/validate")
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .unwrap();
    let router = router.clone();
    let task = tokio::spawn(async move { send(&router, req).await.0.status() });
    tokio::time::timeout(Duration::from_secs(10), started_rx)
        .await
        .expect("the held request reached its handler")
        .unwrap();
    (release_tx, task)
}

fn info_uri(f: &common::Fixture) -> String {
    format!("/mosaicjson/info?url={}", q(&f.mosaic))
}

fn tile_uri(f: &common::Fixture) -> String {
    let t = &f.render["tile"];
    format!(
        "/mosaicjson/tiles/WebMercatorQuad/{}/{}/{}.png?url={}",
        t["z"],
        t["x"],
        t["y"],
        q(&f.mosaic)
    )
}

fn assert_busy(resp: &axum::http::Response<Body>, body: &[u8]) {
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()[header::RETRY_AFTER], "1");
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
    let v: Value = serde_json::from_slice(body).unwrap();
    let detail = v["detail"].as_str().expect("a `detail` string");
    assert!(detail.contains("busy"), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_limit_a_request_waits_then_gets_503_with_retry_after() {
    let f = fixture("uint8");
    let router = router_with(&f, 1, 300);
    let (release, held) = hold_slot(&router).await;

    let start = Instant::now();
    let (resp, body) = get(&router, &info_uri(&f)).await;
    let waited = start.elapsed();
    assert_busy(&resp, &body);
    assert!(
        waited >= Duration::from_millis(280),
        "answered after {waited:?}, before the 300 ms queue timeout"
    );
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
    // Tiles are shed the same way.
    let (resp, body) = get(&router, &tile_uri(&f)).await;
    assert_busy(&resp, &body);

    release.send(()).unwrap();
    // The held request itself was admitted and answered (by the validator).
    assert_ne!(held.await.unwrap(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_at_once_while_saturated() {
    let f = fixture("uint8");
    let router = router_with(&f, 1, 2_000);
    let (release, held) = hold_slot(&router).await;

    let start = Instant::now();
    let (resp, body) = get(&router, "/healthz").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        start.elapsed() < Duration::from_millis(1_000),
        "healthz waited {:?} for a slot",
        start.elapsed()
    );
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["status"], "ok");

    release.send(()).unwrap();
    held.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_request_frees_its_slot() {
    let f = fixture("uint8");
    let router = router_with(&f, 1, 100);
    for _ in 0..3 {
        let (release, held) = hold_slot(&router).await;
        let (resp, _) = get(&router, &tile_uri(&f)).await;
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        release.send(()).unwrap();
        held.await.unwrap();
        // The slot is back: a tile renders (no wait, no 503).
        let (resp, body) = get(&router, &tile_uri(&f)).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(body.starts_with(b"\x89PNG"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_request_takes_the_slot_freed_within_the_timeout() {
    let f = fixture("uint8");
    let router = router_with(&f, 1, 5_000);
    let (release, held) = hold_slot(&router).await;

    let waiting = {
        let (router, uri) = (router.clone(), info_uri(&f));
        tokio::spawn(async move {
            let start = Instant::now();
            let (resp, _) = get(&router, &uri).await;
            (resp.status(), start.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !waiting.is_finished(),
        "answered while the only slot was held"
    );
    release.send(()).unwrap();
    held.await.unwrap();
    let (status, waited) = waiting.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(waited >= Duration::from_millis(180), "{waited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_inflight_zero_never_sheds() {
    let f = fixture("uint8");
    let router = router_with(&f, 0, 0);
    let (release, held) = hold_slot(&router).await;
    let (release2, held2) = hold_slot(&router).await;
    let (resp, _) = get(&router, &tile_uri(&f)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    release.send(()).unwrap();
    release2.send(()).unwrap();
    held.await.unwrap();
    held2.await.unwrap();
}

/// Runs `settings_child` in a child process with `vars` set (the environment is never
/// changed in this process, where other tests run GDAL concurrently).
fn run_settings_child(vars: &[(&str, &str)], expect: &str) {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "settings_child", "--ignored", "--test-threads=1"])
        .env_remove("MOSAIC_MAX_INFLIGHT")
        .env_remove("MOSAIC_QUEUE_TIMEOUT_MS")
        .env("SHED_TEST_EXPECT", expect);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn settings_come_from_the_environment() {
    run_settings_child(
        &[
            ("MOSAIC_MAX_INFLIGHT", "3"),
            ("MOSAIC_QUEUE_TIMEOUT_MS", "250"),
        ],
        "3,250",
    );
    run_settings_child(&[("MOSAIC_MAX_INFLIGHT", "0")], "0,1000");
    let default = format!(
        "{},{}",
        tiler::shed::default_max_inflight(),
        tiler::shed::DEFAULT_QUEUE_TIMEOUT_MS
    );
    run_settings_child(&[], &default);
    run_settings_child(&[("MOSAIC_MAX_INFLIGHT", "many")], &default);
    assert!(tiler::shed::default_max_inflight() >= 4);
}

#[test]
#[ignore = "run by settings_come_from_the_environment in a child process"]
fn settings_child() {
    let expect = std::env::var("SHED_TEST_EXPECT").unwrap();
    let c = Config::from_env(&[]);
    assert_eq!(
        format!("{},{}", c.max_inflight, c.queue_timeout.as_millis()),
        expect
    );
}

/// A router of one slow route (`sleep` ms) and `/healthz`, counting the requests in
/// progress and the most seen at once.
fn slow_router(layer: ShedLayer, sleep: u64) -> (Router, Arc<AtomicUsize>) {
    let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let handler = {
        let peak = peak.clone();
        move || {
            let (now, peak) = (now.clone(), peak.clone());
            async move {
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(n, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(sleep)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                "done"
            }
        }
    };
    let router = Router::new()
        .route("/slow", get_route(handler))
        .route(
            "/healthz",
            get_route(|| async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                "ok"
            }),
        )
        .layer(layer);
    (router, peak)
}

async fn statuses(router: &Router, path: &str, n: usize) -> Vec<StatusCode> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (router, path) = (router.clone(), path.to_string());
            tokio::spawn(async move {
                let req = Request::get(path).body(Body::empty()).unwrap();
                router.oneshot(req).await.unwrap().status()
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_handlers_beyond_the_limit_are_shed_after_the_timeout() {
    let layer = ShedLayer::new(2, Duration::from_millis(100));
    let (router, peak) = slow_router(layer.clone(), 600);
    let start = Instant::now();
    let got = statuses(&router, "/slow", 6).await;
    let ok = got.iter().filter(|s| **s == StatusCode::OK).count();
    let busy = got
        .iter()
        .filter(|s| **s == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    assert_eq!((ok, busy), (2, 4), "{got:?}");
    assert_eq!(peak.load(Ordering::SeqCst), 2);
    assert!(start.elapsed() >= Duration::from_millis(600));
    // Every slot is back.
    assert_eq!(layer.available(), Some(2));
    // The exempt path is never counted: 8 at once while 2 slots exist, all answered.
    let got = statuses(&router, "/healthz", 8).await;
    assert!(got.iter().all(|s| *s == StatusCode::OK), "{got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_requests_all_complete_with_at_most_the_limit_in_progress() {
    let layer = ShedLayer::new(3, Duration::from_secs(20));
    let (router, peak) = slow_router(layer.clone(), 30);
    let got = statuses(&router, "/slow", 24).await;
    assert!(got.iter().all(|s| *s == StatusCode::OK), "{got:?}");
    assert_eq!(peak.load(Ordering::SeqCst), 3);
    assert_eq!(layer.available(), Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_tiles_beyond_the_limit_queue_and_all_render() {
    let f = fixture("uint8");
    let router = router_with(&f, 2, 30_000);
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let (router, uri) = (router.clone(), tile_uri(&f));
            tokio::spawn(async move { get(&router, &uri).await.0.status() })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
}
