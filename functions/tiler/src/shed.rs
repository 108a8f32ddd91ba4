//! Admission control: at most `max_inflight` requests are handled at once; a request that
//! finds no free slot waits for one (first come, first served) for at most `queue_timeout`,
//! then is answered `503 Service Unavailable` with `Retry-After: 1` and a JSON
//! `{"detail": ...}` body instead of queueing without bound. `/healthz` is never held back.
//!
//! Why: tiles are CPU work (GDAL decode, warp, encode) on `spawn_blocking` threads. Without a
//! bound, 32 concurrent tiles on 2 cores all progress at once, each one slower, and every
//! client sees the whole backlog in its latency (p99 of 3–5 s). With a bound, the requests in
//! progress finish at full speed, the waiting ones are served in arrival order, and when the
//! wait would exceed `queue_timeout` the client learns it at once and can retry or go
//! elsewhere (a CDN or load balancer in front retries on 503 + `Retry-After`).
//!
//! Settings (see [`crate::Config`]): `MOSAIC_MAX_INFLIGHT` (default [`default_max_inflight`],
//! `0` turns admission control off) and `MOSAIC_QUEUE_TIMEOUT_MS` (default
//! [`DEFAULT_QUEUE_TIMEOUT_MS`]). In AWS Lambda a container handles one request at a time,
//! so the bound never binds there; it is for the long-running server.
//!
//! The slot is held until the handler has produced its response (the tile routes render in
//! the handler and answer with a complete body). A request whose client goes away releases
//! its slot when hyper drops the handler's future.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;
use tower::{Layer, Service};

/// Default of `MOSAIC_QUEUE_TIMEOUT_MS`: how long a request may wait for a slot.
pub const DEFAULT_QUEUE_TIMEOUT_MS: u64 = 1000;

/// Requests in progress per available core in the default of `MOSAIC_MAX_INFLIGHT`.
pub const INFLIGHT_PER_CORE: usize = 8;

/// Paths never held back (liveness must answer while the server is saturated).
const EXEMPT: &[&str] = &["/healthz"];

/// Default of `MOSAIC_MAX_INFLIGHT`: [`INFLIGHT_PER_CORE`] per available core, at least 4
/// (16 on 2 cores). Enough to overlap the I/O waits of remote (`/vsicurl/`, S3) reads with
/// other tiles' CPU work; few enough that local, CPU-bound tiles keep their latency near
/// the single-request one instead of growing with the number of clients.
pub fn default_max_inflight() -> usize {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    (cores * INFLIGHT_PER_CORE).max(4)
}

/// A [`Layer`] bounding the requests in progress of the service it wraps. Each layer owns
/// one set of slots, shared by every clone of the services it builds.
#[derive(Debug, Clone)]
pub struct ShedLayer {
    slots: Option<Arc<Semaphore>>,
    max_inflight: usize,
    queue_timeout: Duration,
}

impl ShedLayer {
    /// At most `max_inflight` requests in progress (`0`: no bound, nothing is ever shed),
    /// each waiting at most `queue_timeout` for a slot.
    pub fn new(max_inflight: usize, queue_timeout: Duration) -> ShedLayer {
        ShedLayer {
            slots: (max_inflight > 0).then(|| Arc::new(Semaphore::new(max_inflight))),
            max_inflight,
            queue_timeout,
        }
    }

    /// From the server settings (`MOSAIC_MAX_INFLIGHT`, `MOSAIC_QUEUE_TIMEOUT_MS`).
    pub fn from_config(config: &crate::Config) -> ShedLayer {
        ShedLayer::new(config.max_inflight, config.queue_timeout)
    }

    /// Slots free right now (`None` without a bound); for tests and diagnostics.
    pub fn available(&self) -> Option<usize> {
        self.slots.as_ref().map(|s| s.available_permits())
    }
}

impl<S> Layer<S> for ShedLayer {
    type Service = Shed<S>;

    fn layer(&self, inner: S) -> Shed<S> {
        Shed {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service built by [`ShedLayer`].
#[derive(Debug, Clone)]
pub struct Shed<S> {
    inner: S,
    layer: ShedLayer,
}

/// The answer to a request that found no slot in time.
pub fn busy_response(max_inflight: usize, queue_timeout: Duration) -> Response {
    let detail = format!(
        "server busy: {max_inflight} requests in progress and no slot freed within {} ms; retry later",
        queue_timeout.as_millis()
    );
    let mut resp = (
        StatusCode::SERVICE_UNAVAILABLE,
        axum::Json(serde_json::json!({ "detail": detail })),
    )
        .into_response();
    let h = resp.headers_mut();
    h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    // A 503 must not be cached by a CDN in front as if it were the tile.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

impl<S> Service<Request<Body>> for Shed<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        // The clone that was driven to readiness serves this request (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let slots = match &self.layer.slots {
            Some(s) if !EXEMPT.contains(&req.uri().path()) => s.clone(),
            _ => return Box::pin(inner.call(req)),
        };
        let (max_inflight, queue_timeout) = (self.layer.max_inflight, self.layer.queue_timeout);
        Box::pin(async move {
            let permit = match slots.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(_) => {
                    match tokio::time::timeout(queue_timeout, slots.acquire_owned()).await {
                        Ok(Ok(p)) => p,
                        // Timed out (or, never here, the semaphore closed).
                        _ => {
                            tracing::debug!(
                                "shed {} after waiting {} ms",
                                req.uri().path(),
                                queue_timeout.as_millis()
                            );
                            return Ok(busy_response(max_inflight, queue_timeout));
                        }
                    }
                }
            };
            let resp = inner.call(req).await;
            drop(permit);
            resp
        })
    }
}
