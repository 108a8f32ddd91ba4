//! # tiler
//!
//! A titiler-compatible MosaicJSON tile API as one axum [`Router`] (see [`app`]): served by
//! `lambda_http` inside AWS Lambda and by a plain HTTP server on localhost (`src/main.rs`).
//! Routes live under `/mosaicjson` (mosaic chosen by `?url=`) and `/mosaics/{id}` (mosaic
//! resolved through `MOSAIC_URL_TEMPLATE`).

pub mod demo;
pub mod egress;
pub mod error;
mod landing;
mod ogc;
pub mod params;
mod routes;
pub mod shed;
pub mod stac;
pub mod viewer;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use mosaic::backend::{Backends, OpenOptions};
use mosaic::cache::{CacheSettings, MosaicCache};
use mosaic::limits::Limits;
use mosaic::settings::Settings;

pub use mosaic::gate::{AllowList, Gate};

/// Server settings, read once per process (Lambda container) from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// Locations requests may read (`MOSAIC_ALLOWED_URLS`, `MOSAIC_ALLOW_PRIVATE_NETWORKS`).
    pub gate: Gate,
    /// Request budgets (`MOSAIC_MAX_*`).
    pub limits: Limits,
    /// Scheme, host and optional path prefix of the public endpoint, used in every
    /// self-referencing URL instead of the request's `Host` (`MOSAIC_PUBLIC_URL`).
    pub public_url: Option<String>,
    /// The egress proxy every HTTP(S) read goes through (started by `main`; `None` in
    /// tests that build the router alone).
    pub http_proxy: Option<String>,
    /// `Cache-Control` of tiles and documents (`MOSAIC_CACHE_CONTROL`).
    pub cache_control: String,
    /// Refuse tiles outside the mosaic's zooms (`MOSAIC_STRICT_ZOOM`).
    pub strict_zoom: bool,
    /// At most this many assets per tile (`MOSAIC_MAX_ASSETS_PER_TILE`, default 20).
    pub max_assets_per_tile: usize,
    /// Template of `/mosaics/{id}` URIs (`MOSAIC_URL_TEMPLATE`, e.g. `s3://bucket/{id}.json.gz`).
    pub url_template: Option<String>,
    /// Concurrent asset reads per tile (`MOSAIC_CONCURRENCY`).
    pub concurrency: usize,
    /// Attribution added to TileJSON (`TITILER_DEFAULT_ATTRIBUTION`).
    pub attribution: Option<String>,
    /// At most this many requests in progress at once (`MOSAIC_MAX_INFLIGHT`, default
    /// [`shed::default_max_inflight`]: 8 per core, 16 on 2 cores; `0`: no bound). `/healthz`
    /// is never counted.
    pub max_inflight: usize,
    /// How long a request beyond `max_inflight` waits for a slot before it is answered 503
    /// with `Retry-After: 1` (`MOSAIC_QUEUE_TIMEOUT_MS`, default 1000).
    pub queue_timeout: std::time::Duration,
    /// What the library reads of the environment (stores, cache, concurrency), read once.
    pub settings: Settings,
    /// The mosaic the landing page links to (the local demo; none in Lambda).
    pub demo_mosaic: Option<String>,
    /// The viewer's basemap (`MOSAIC_BASEMAP_URL`, `MOSAIC_BASEMAP_ATTRIBUTION`; none by default).
    pub basemap: Option<viewer::Basemap>,
}

impl Config {
    /// Reads the settings from the environment; `default_allowed` applies when
    /// `MOSAIC_ALLOWED_URLS` is unset.
    pub fn from_env(default_allowed: &[String]) -> Config {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let settings = Settings::from_env();
        Config {
            gate: Gate {
                allow: var("MOSAIC_ALLOWED_URLS")
                    .map(|v| AllowList::parse(&v))
                    .unwrap_or_else(|| AllowList::of(default_allowed)),
                allow_private_networks: var("MOSAIC_ALLOW_PRIVATE_NETWORKS")
                    .and_then(|v| mosaic::cache::parse_bool(&v))
                    .unwrap_or(false),
            },
            limits: Limits::from_lookup(var),
            http_proxy: None,
            public_url: var("MOSAIC_PUBLIC_URL"),
            cache_control: var("MOSAIC_CACHE_CONTROL")
                .unwrap_or_else(|| "public, max-age=3600".into()),
            strict_zoom: var("MOSAIC_STRICT_ZOOM")
                .and_then(|v| mosaic::cache::parse_bool(&v))
                .unwrap_or(false),
            max_assets_per_tile: var("MOSAIC_MAX_ASSETS_PER_TILE")
                .and_then(|v| v.parse().ok())
                .filter(|n| *n > 0)
                .unwrap_or(20),
            url_template: var("MOSAIC_URL_TEMPLATE"),
            concurrency: settings.concurrency(),
            attribution: var("TITILER_DEFAULT_ATTRIBUTION"),
            max_inflight: var("MOSAIC_MAX_INFLIGHT")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(shed::default_max_inflight),
            queue_timeout: std::time::Duration::from_millis(
                var("MOSAIC_QUEUE_TIMEOUT_MS")
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(shed::DEFAULT_QUEUE_TIMEOUT_MS),
            ),
            basemap: viewer::Basemap::from_lookup(var),
            settings,
            demo_mosaic: None,
        }
    }

    /// Settings for tests and embedding: everything in `allowed`, defaults elsewhere; the
    /// stores and the cache configured from the environment.
    pub fn new(allowed: AllowList) -> Config {
        let settings = Settings::from_env();
        Config {
            gate: Gate::new(allowed),
            limits: Limits::default(),
            http_proxy: None,
            public_url: None,
            cache_control: "public, max-age=3600".into(),
            strict_zoom: false,
            max_assets_per_tile: 20,
            url_template: None,
            concurrency: settings.concurrency(),
            attribution: None,
            max_inflight: shed::default_max_inflight(),
            queue_timeout: std::time::Duration::from_millis(shed::DEFAULT_QUEUE_TIMEOUT_MS),
            settings,
            demo_mosaic: None,
            basemap: None,
        }
    }
}

/// Shared state of the router: settings, the mosaic cache and the read slots, built once.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Settings.
    pub config: Arc<Config>,
    /// Opened mosaics (read within the document budget, through the egress proxy).
    pub cache: MosaicCache,
    /// GDAL reads in flight across all requests (`MOSAIC_MAX_CONCURRENT_READS`).
    pub read_slots: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    /// State with the backends and the mosaic cache (`COGEO_MOSAIC_CACHE_*`) of
    /// `config.settings`, built once here.
    pub fn new(config: Config) -> AppState {
        let open = OpenOptions {
            max_document_bytes: config.limits.max_document_bytes,
            http_proxy: config.http_proxy.clone(),
        };
        let backends = Backends::new(&config.settings).with_options(open);
        let slots = usize::try_from(config.limits.max_concurrent_reads)
            .unwrap_or(usize::MAX)
            .clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        AppState {
            cache: MosaicCache::new(CacheSettings::from_settings(&config.settings))
                .with_backends(backends),
            read_slots: Arc::new(tokio::sync::Semaphore::new(slots)),
            config: Arc::new(config),
        }
    }
}

fn mosaic_routes() -> Router<AppState> {
    Router::new()
        .route("/", get(routes::document))
        .route("/validate", post(routes::validate))
        .route("/info", get(routes::info))
        .route("/info.geojson", get(routes::info_geojson))
        .route("/tiles", get(routes::tilesets))
        .route("/tiles/{tms}", get(routes::tileset))
        .route("/tiles/{tms}/{z}/{x}/{y}", get(routes::tile))
        .route("/tiles/{tms}/{z}/{x}/{y}/assets", get(routes::tile_assets))
        .route("/{tms}/tilejson.json", get(routes::tilejson))
        .route("/{tms}/map.html", get(viewer::map_html))
        .route("/point/{lonlat}", get(routes::point))
        .route("/point/{lonlat}/assets", get(routes::point_assets))
        .route("/bbox/{bbox}/assets", get(routes::bbox_assets))
        .route("/WMTSCapabilities.xml", get(routes::wmts))
        .route("/{tms}/WMTSCapabilities.xml", get(routes::wmts))
}

/// Initialises GDAL and PROJ once (drivers, cloud defaults, the Web Mercator and WGS 84
/// definitions and a transformation between them); called at start-up, off the request path.
pub fn warm_up() {
    mosaic::dataset::configure_gdal_defaults();
    // Through the gdal crate's own one-time registration, never a second concurrent one.
    let _ = gdal::DriverManager::count();
    let _ = mosaic::crs::transform_point(
        &mosaic::crs::Crs::Other("EPSG:32633".into()),
        &mosaic::crs::Crs::Wgs84,
        500_000.0,
        5_000_000.0,
    );
    let _ = gdal::spatial_ref::SpatialRef::from_epsg(3857).and_then(|s| s.to_wkt());
}

/// `lambda_http` puts the API Gateway stage in front of the path (`/prod/mosaicjson/...`)
/// for REST APIs and for HTTP APIs on a stage other than `$default`: remove it so every
/// deployment reaches the same routes. (`lambda_http`'s own switch,
/// `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH`, is an environment variable read on each request:
/// a deployment that forgets it would answer 404 everywhere, and tests cannot set it safely.)
pub fn strip_stage(mut req: lambda_http::Request) -> lambda_http::Request {
    use lambda_http::RequestExt;
    use lambda_http::request::RequestContext;
    let stage = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.stage.clone(),
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.stage.clone(),
        _ => None,
    };
    if let Some(stage) = stage.filter(|s| !s.is_empty() && s != "$default") {
        let prefix = format!("/{stage}");
        let path = req.uri().path();
        if path == prefix || path.starts_with(&format!("{prefix}/")) {
            let rest = &path[prefix.len()..];
            let new = match req.uri().query() {
                Some(q) => format!("{}?{q}", if rest.is_empty() { "/" } else { rest }),
                None => {
                    if rest.is_empty() {
                        "/".to_string()
                    } else {
                        rest.to_string()
                    }
                }
            };
            if let Ok(uri) = new.parse() {
                *req.uri_mut() = uri;
            }
        }
    }
    // Links must keep the path prefix the client's URL has (`routes::base_url`): a REST API
    // reports the public path (`/prod/...` on its own domain, `/{base path}/...` on a custom
    // domain) beside the routed one; an HTTP API's named stage is the prefix; cargo-lambda's
    // emulator serves function URLs under `/lambda-url/{function}`.
    let public_path = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.path.clone(),
        Some(RequestContext::ApiGatewayV2(ctx)) => cargo_lambda_prefix(ctx)
            .or_else(|| {
                ctx.stage
                    .clone()
                    .filter(|s| !s.is_empty() && s != "$default")
                    .map(|s| format!("/{s}"))
            })
            .map(|prefix| format!("{prefix}{}", req.uri().path())),
        _ => None,
    };
    let routed = req.uri().path().to_string();
    if let Some(prefix) = public_path
        .as_deref()
        .and_then(|p| p.strip_suffix(routed.as_str()))
        .filter(|p| !p.is_empty())
        && let Ok(v) = axum::http::HeaderValue::from_str(prefix)
    {
        req.headers_mut().insert("x-forwarded-prefix", v);
    }
    req
}

/// `/lambda-url/{function}` when the event comes from cargo-lambda's function-URL emulator,
/// which strips that prefix from the path it hands the function. Its events are recognisable:
/// domain `localhost`, user agent `cargo-lambda`, no account (API Gateway and Lambda function
/// URLs always name the account, and clients cannot set these fields).
fn cargo_lambda_prefix(
    ctx: &lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext,
) -> Option<String> {
    let emulated = ctx.domain_name.as_deref() == Some("localhost")
        && ctx.http.user_agent.as_deref() == Some("cargo-lambda")
        && ctx.account_id.is_none();
    let function = ctx.domain_prefix.as_deref().filter(|f| !f.is_empty())?;
    emulated.then(|| format!("/lambda-url/{function}"))
}

/// The router as the Lambda runtime serves it (stage prefix removed).
pub fn lambda_app(
    state: AppState,
) -> tower::util::MapRequest<Router, fn(lambda_http::Request) -> lambda_http::Request> {
    tower::ServiceExt::map_request(
        app(state),
        strip_stage as fn(lambda_http::Request) -> lambda_http::Request,
    )
}

/// The whole API.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(routes::healthz))
        .route("/", get(landing::landing))
        .route("/docs", get(landing::docs))
        .route("/openapi.json", get(landing::openapi))
        .route("/static/{file}", get(viewer::static_file))
        // The document, with the trailing slash titiler's `/mosaicjson/` uses.
        .route("/mosaicjson/", get(routes::document))
        .route("/mosaicjson/stac/register", post(stac::register))
        .route("/mosaics/{id}/", get(routes::document))
        .nest("/mosaicjson", mosaic_routes())
        .nest("/mosaics/{id}", mosaic_routes())
        .fallback(routes::not_found)
        .layer(axum::middleware::map_response(error::json_rejections))
        .layer(shed::ShedLayer::from_config(&state.config))
        .with_state(state)
}
