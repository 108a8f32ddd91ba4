//! Request handlers. Each resolves the mosaic (`?url=` or `/mosaics/{id}`), checks it and
//! every asset against the allowlist, and answers with titiler's shapes and status codes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use mosaic::backend::MosaicRead;
use mosaic::gate::Use;
use mosaic::index::{Lookup, LookupOptions};
use mosaic::render::encode::render_image;
use mosaic::render::point::{PointOptions, point_values_of};
use mosaic::render::{check_tile, render_assets};
use mosaic::{MosaicJson, Tile, TileMatrixSet};
use serde_json::json;
use sha2::{Digest, Sha224};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::params::Query;
use crate::{ogc, stac};

type PathParams = Path<HashMap<String, String>>;

/// The resolved mosaic of a request.
pub(crate) struct Target {
    pub mosaic: Arc<dyn MosaicRead>,
    pub query: Query,
    /// The mosaic is a STAC search described by the query (`url=stac+…`): its zooms are
    /// part of what it is, so links keep `minzoom`/`maxzoom`.
    pub search_in_query: bool,
}

async fn target(
    state: &AppState,
    path: &HashMap<String, String>,
    query: Query,
) -> ApiResult<Target> {
    let mosaic_uri = match path.get("id") {
        Some(id) => {
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
                || id.contains("..")
            {
                return Err(ApiError::BadRequest(format!(
                    "mosaic id `{id}` must use [A-Za-z0-9_.-]"
                )));
            }
            let template =
                state.config.url_template.as_deref().ok_or_else(|| {
                    ApiError::NotFound("no MOSAIC_URL_TEMPLATE is configured".into())
                })?;
            template.replace("{id}", id)
        }
        None => query
            .get("url")
            .ok_or_else(|| ApiError::Unprocessable("query parameter `url` is required".into()))?
            .to_string(),
    };
    // The canonical form is what is opened: the check and the read see the same location.
    let canonical = state.config.gate.admit(&mosaic_uri, Use::Mosaic)?;
    if canonical.starts_with("stac+") && !path.contains_key("id") {
        let search = stac::StacParams::from_query(&canonical, &query)?.search(state)?;
        let mosaic = stac::open(state, &search).await?;
        return Ok(Target {
            mosaic,
            query,
            search_in_query: true,
        });
    }
    let mut mosaic = state.cache.open(&canonical).await?;
    // A registered search: its stored document names the search to open.
    if let Some(params) = stac::registered(&mosaic.document())? {
        mosaic = stac::open(state, &params.search(state)?).await?;
    }
    Ok(Target {
        mosaic,
        query,
        search_in_query: false,
    })
}

/// Every asset through the gate; the canonical forms are what GDAL opens.
fn admit_assets(state: &AppState, assets: &[String]) -> ApiResult<Vec<String>> {
    assets
        .iter()
        .map(|a| Ok(state.config.gate.admit(a, Use::Asset)?))
        .collect()
}

/// A TMS named in a path: a built-in id, or the mosaic's own custom TMS id (never a file).
fn tms_of(id: &str, doc: &MosaicJson) -> ApiResult<TileMatrixSet> {
    let own = doc.tms();
    if own.id() == id {
        return Ok(own);
    }
    TileMatrixSet::builtin(id).map_err(|e| ApiError::Unprocessable(e.to_string()))
}

/// Serializes `value` once, straight to the body (no intermediate `Value`).
fn json_response<T: serde::Serialize + ?Sized>(
    state: &AppState,
    value: &T,
    content_type: &'static str,
) -> Response {
    // Our response types are plain data (string keys, finite or null numbers): serializing
    // them cannot fail.
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut resp = Response::new(Body::from(body));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&state.config.cache_control) {
        h.insert(header::CACHE_CONTROL, v);
    }
    resp
}

fn parse_pair(text: &str, what: &str) -> ApiResult<(f64, f64)> {
    let (a, b) = text
        .split_once(',')
        .ok_or_else(|| ApiError::BadRequest(format!("{what} must be `lon,lat`")))?;
    let p = |t: &str| t.trim().parse::<f64>().ok().filter(|v| v.is_finite());
    match (p(a), p(b)) {
        (Some(x), Some(y)) => Ok((x, y)),
        _ => Err(ApiError::BadRequest(format!(
            "{what} `{text}` must be two numbers"
        ))),
    }
}

/// `{y}[@{scale}x][.{format}]`.
fn parse_y(segment: &str) -> ApiResult<(u64, usize, Option<String>)> {
    let bad = || {
        ApiError::BadRequest(format!(
            "tile row `{segment}` must look like 12, 12.png or 12@2x.png"
        ))
    };
    let (stem, format) = match segment.split_once('.') {
        Some((s, f)) => (s, Some(f.to_string())),
        None => (segment, None),
    };
    let (y, scale) = match stem.split_once('@') {
        Some((y, s)) => {
            let s: usize = s
                .strip_suffix('x')
                .and_then(|n| n.parse().ok())
                .filter(|n| (1..=4).contains(n))
                .ok_or_else(bad)?;
            (y, s)
        }
        None => (stem, 1),
    };
    Ok((y.parse().map_err(|_| bad())?, scale, format))
}

fn tile_of(path: &HashMap<String, String>) -> ApiResult<(String, Tile, usize, Option<String>)> {
    let get = |k: &str| path.get(k).map(String::as_str).unwrap_or("");
    let z: u8 = get("z")
        .parse()
        .ok()
        .filter(|z| *z <= 30)
        .ok_or_else(|| ApiError::BadRequest(format!("zoom `{}` must be 0..=30", get("z"))))?;
    let x: u64 = get("x")
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("tile column `{}` is not a number", get("x"))))?;
    let (y, scale, format) = parse_y(get("y"))?;
    Ok((get("tms").to_string(), Tile::new(x, y, z), scale, format))
}

pub(crate) async fn tile(
    State(state): State<AppState>,
    Path(path): PathParams,
    query: Query,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (tms_id, tile, scale, format) = tile_of(&path)?;
    let t = target(&state, &path, query).await?;
    let doc = t.mosaic.document();
    let tms = tms_of(&tms_id, &doc)?;
    check_tile(&tms, tile).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if state.config.strict_zoom && (tile.z < doc.minzoom || tile.z > doc.maxzoom) {
        return Err(ApiError::BadRequest(format!(
            "Invalid ZOOM level {}. Should be between {} and {}",
            tile.z, doc.minzoom, doc.maxzoom
        )));
    }
    let mut opts = t.query.tile_options(
        scale,
        state.config.concurrency,
        state.config.max_assets_per_tile,
    )?;
    let limits = &state.config.limits;
    let side = (opts.read.tilesize as u64)
        .saturating_add((opts.read.buffer * 2.0) as u64)
        .saturating_add(2 * opts.read.padding as u64);
    mosaic::limits::check(
        || format!("a read grid of {side}×{side} pixels (tilesize + 2×buffer + 2×padding)"),
        side.saturating_mul(side),
        limits.max_tile_pixels,
        "MOSAIC_MAX_TILE_PIXELS",
    )?;
    opts.read.max_bytes = Some(limits.max_read_bytes);
    opts.read_slots = Some(state.read_slots.clone());
    let render = t.query.render_options(format.as_deref())?;
    let started = Instant::now();
    let search = LookupOptions {
        reverse: t.query.reverse()?,
        tms: Some(tms.clone()),
        coord_crs: None,
        max_quadkeys: Some(state.config.limits.max_lookup_quadkeys),
    };
    let assets = state
        .cache
        .lookup(&t.mosaic, &Lookup::Tile(tile), &search)
        .await?
        .as_ref()
        .clone();
    let search_time = started.elapsed();
    let assets = admit_assets(&state, &assets)?;
    let out = render_assets(assets, &tms, tile, &opts).await?;
    let crs = tms.crs().clone();
    let (image, bounds) = (out.image.clone(), out.bounds);
    let (bytes, fmt) = tokio::task::spawn_blocking(move || {
        let wkt = gdal::spatial_ref::SpatialRef::from_definition(&crs.uri())
            .and_then(|s| s.to_wkt())
            .unwrap_or_default();
        render_image(&image, &render, bounds, &wkt)
    })
    .await
    .map_err(|e| {
        ApiError::Mosaic(mosaic::Error::InvalidInput(format!(
            "encoding task failed: {e}"
        )))
    })??;
    let etag = format!(
        "\"{}\"",
        Sha224::digest(&bytes)
            .iter()
            .take(12)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let mut resp = if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Response::new(Body::from(Bytes::from(bytes)))
    };
    let h = resp.headers_mut();
    let mut set = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    set("content-type", fmt.content_type().to_string());
    set("cache-control", state.config.cache_control.clone());
    set("etag", etag);
    set(
        "content-bbox",
        out.bounds
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(","),
    );
    set("content-crs", format!("<{}>", tms.crs().uri()));
    set("x-assets", out.assets_used.join(","));
    set(
        "server-timing",
        format!(
            "search;dur={:.2}, mosaicking;dur={:.2}",
            search_time.as_secs_f64() * 1e3,
            out.mosaicking.as_secs_f64() * 1e3
        ),
    );
    if out.truncated > 0 {
        set(
            "x-assets-truncated",
            format!(
                "{} of {} assets used (MOSAIC_MAX_ASSETS_PER_TILE)",
                out.assets.len(),
                out.assets.len() + out.truncated
            ),
        );
    }
    Ok(resp)
}

pub(crate) async fn tile_assets(
    State(state): State<AppState>,
    Path(path): PathParams,
    query: Query,
) -> ApiResult<Response> {
    let (tms_id, tile, _, _) = tile_of(&path)?;
    let t = target(&state, &path, query).await?;
    let tms = tms_of(&tms_id, &t.mosaic.document())?;
    check_tile(&tms, tile).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let search = LookupOptions {
        reverse: t.query.reverse()?,
        tms: Some(tms),
        coord_crs: None,
        max_quadkeys: Some(state.config.limits.max_lookup_quadkeys),
    };
    let assets = t.mosaic.assets_for_tile(tile, &search).await?;
    Ok(json_response(&state, &assets, "application/json"))
}

pub(crate) async fn point_assets(
    State(state): State<AppState>,
    Path(path): PathParams,
    query: Query,
) -> ApiResult<Response> {
    let (lon, lat) = parse_pair(
        path.get("lonlat").map(String::as_str).unwrap_or(""),
        "point",
    )?;
    let t = target(&state, &path, query).await?;
    let search = LookupOptions {
        reverse: t.query.reverse()?,
        tms: None,
        coord_crs: t.query.coord_crs()?,
        max_quadkeys: Some(state.config.limits.max_lookup_quadkeys),
    };
    let assets = t.mosaic.assets_for_point(lon, lat, &search).await?;
    Ok(json_response(&state, &assets, "application/json"))
}

pub(crate) async fn bbox_assets(
    State(state): State<AppState>,
    Path(path): PathParams,
    query: Query,
) -> ApiResult<Response> {
    let text = path.get("bbox").cloned().unwrap_or_default();
    let v: Vec<f64> = text
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| ApiError::BadRequest(format!("bbox `{text}` must be minx,miny,maxx,maxy")))?;
    if v.len() != 4 || v.iter().any(|x| !x.is_finite()) {
        return Err(ApiError::BadRequest(format!(
            "bbox `{text}` must be 4 numbers"
        )));
    }
    let t = target(&state, &path, query).await?;
    let search = LookupOptions {
        reverse: t.query.reverse()?,
        tms: None,
        coord_crs: t.query.coord_crs()?,
        max_quadkeys: Some(state.config.limits.max_lookup_quadkeys),
    };
    let assets = t
        .mosaic
        .assets_for_bbox([v[0], v[1], v[2], v[3]], &search)
        .await?;
    Ok(json_response(&state, &assets, "application/json"))
}

pub(crate) async fn point(
    State(state): State<AppState>,
    Path(path): PathParams,
    query: Query,
) -> ApiResult<Response> {
    let (lon, lat) = parse_pair(
        path.get("lonlat").map(String::as_str).unwrap_or(""),
        "point",
    )?;
    let t = target(&state, &path, query).await?;
    let coord_crs = t.query.coord_crs()?;
    let search = LookupOptions {
        reverse: t.query.reverse()?,
        tms: None,
        coord_crs: coord_crs.clone(),
        max_quadkeys: Some(state.config.limits.max_lookup_quadkeys),
    };
    let assets = t.mosaic.assets_for_point(lon, lat, &search).await?;
    let assets = admit_assets(&state, &assets)?;
    let opts = PointOptions {
        coord_crs,
        indexes: t.query.bidx()?,
        nodata: t.query.nodata()?,
        concurrency: state.config.concurrency,
    };
    let values = point_values_of(&assets, lon, lat, &opts).await?;
    Ok(json_response(&state, &values, "application/json"))
}

pub(crate) async fn info(
    State(state): State<AppState>,
    Path(path): PathParams,
    query: Query,
) -> ApiResult<Response> {
    let t = target(&state, &path, query).await?;
    let info = t.mosaic.info(false).await?;
    Ok(json_response(&state, &info, "application/json"))
}

pub(crate) async fn info_geojson(
    State(state): State<AppState>,
    Path(path): PathParams,
    query: Query,
) -> ApiResult<Response> {
    let t = target(&state, &path, query).await?;
    let info = t.mosaic.info(false).await?;
    let [w, s, e, n] = info.bounds;
    // Bounds crossing the antimeridian (west > east) become two polygons.
    let geometry = if w > e {
        json!({"type": "MultiPolygon", "coordinates": [
            [[[w, s], [180.0, s], [180.0, n], [w, n], [w, s]]],
            [[[-180.0, s], [e, s], [e, n], [-180.0, n], [-180.0, s]]]]})
    } else {
        json!({"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]})
    };
    let feature =
        json!({"type": "Feature", "bbox": info.bounds, "geometry": geometry, "properties": info});
    Ok(json_response(&state, &feature, "application/geo+json"))
}

pub(crate) async fn document(
    State(state): State<AppState>,
    Path(path): PathParams,
    query: Query,
) -> ApiResult<Response> {
    let t = target(&state, &path, query).await?;
    let mut resp = Response::new(Body::from(t.mosaic.document().to_json_vec()));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

pub(crate) async fn validate(State(state): State<AppState>, body: Bytes) -> Response {
    let max = state.config.limits.max_document_bytes;
    match MosaicJson::from_slice_limited(&body, max) {
        Err(e @ mosaic::Error::LimitExceeded { .. }) => ApiError::Mosaic(e).into_response(),
        Ok(_) => (StatusCode::OK, axum::Json(json!(true))).into_response(),
        Err(e) => ApiError::Unprocessable(e.to_string()).into_response(),
    }
}

pub(crate) async fn tilejson(
    State(state): State<AppState>,
    Path(path): PathParams,
    OriginalUri(uri): OriginalUri,
    query: Query,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let t = target(&state, &path, query).await?;
    let doc = t.mosaic.document();
    let tms = tms_of(path.get("tms").map(String::as_str).unwrap_or(""), &doc)?;
    let value = ogc::tilejson(
        &state,
        &t,
        &tms,
        &base_url(&state, &headers, &uri, "/tilejson.json", 1),
    )?;
    Ok(json_response(&state, &value, "application/json"))
}

pub(crate) async fn tilesets(
    State(state): State<AppState>,
    Path(path): PathParams,
    OriginalUri(uri): OriginalUri,
    query: Query,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let t = target(&state, &path, query).await?;
    Ok(json_response(
        &state,
        &ogc::tileset_list(&t, &base_url(&state, &headers, &uri, "/tiles", 0)),
        "application/json",
    ))
}

pub(crate) async fn tileset(
    State(state): State<AppState>,
    Path(path): PathParams,
    OriginalUri(uri): OriginalUri,
    query: Query,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let t = target(&state, &path, query).await?;
    let tms = tms_of(
        path.get("tms").map(String::as_str).unwrap_or(""),
        &t.mosaic.document(),
    )?;
    let value = ogc::tileset(&t, &tms, &base_url(&state, &headers, &uri, "", 2))?;
    Ok(json_response(&state, &value, "application/json"))
}

pub(crate) async fn wmts(
    State(state): State<AppState>,
    Path(path): PathParams,
    OriginalUri(uri): OriginalUri,
    query: Query,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let t = target(&state, &path, query).await?;
    // `/{tms}/WMTSCapabilities.xml` (titiler's current path) describes that TMS alone.
    let (only, levels) = match path.get("tms") {
        Some(id) => (Some(tms_of(id, &t.mosaic.document())?), 1),
        None => (None, 0),
    };
    let xml = ogc::wmts(
        &t,
        &base_url(&state, &headers, &uri, "/WMTSCapabilities.xml", levels),
        only,
    )?;
    let mut resp = Response::new(Body::from(xml));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    Ok(resp)
}

pub(crate) async fn healthz() -> Response {
    let gdal = gdal::version::VersionInfo::version_summary();
    (
        StatusCode::OK,
        axum::Json(
            json!({"status": "ok", "versions": {"tiler": env!("CARGO_PKG_VERSION"), "gdal": gdal}}),
        ),
    )
        .into_response()
}

pub(crate) async fn not_found(uri: Uri) -> Response {
    ApiError::NotFound(format!("no route for {}", uri.path())).into_response()
}

/// Scheme, host and route prefix of the request as the client sent it
/// (`https://host/prefix/mosaicjson`): the path up to `levels` segments before `suffix`, after
/// the public path prefix: `X-Forwarded-Prefix` (a reverse proxy; API Gateway's stage, which
/// [`crate::strip_stage`] removes from the path and records there). `X-Forwarded-Host`, else
/// `Host`, names the host. `MOSAIC_PUBLIC_URL` replaces scheme, host and prefix (a public
/// deployment should set it: otherwise what a client sent is reflected); a host that is not a
/// plain `host[:port]`, a prefix with other than `[A-Za-z0-9._~-]` segments and a forwarded
/// scheme other than http/https are ignored, so nothing but an authority and a path reaches
/// the URLs.
pub(crate) fn base_url(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    suffix: &str,
    levels: usize,
) -> String {
    let mut path = uri
        .path()
        .strip_suffix(suffix)
        .unwrap_or(uri.path())
        .to_string();
    for _ in 0..levels {
        if let Some(i) = path.rfind('/') {
            path.truncate(i);
        }
    }
    if let Some(public) = &state.config.public_url {
        return format!("{}{path}", public.trim_end_matches('/'));
    }
    let authority = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|h| h.split(',').next().unwrap_or("").trim())
            .filter(|h| {
                h.parse::<axum::http::uri::Authority>()
                    .is_ok_and(|a| a.as_str() == *h && !h.contains('@'))
            })
    };
    let host = authority(header::HeaderName::from_static("x-forwarded-host"))
        .or_else(|| authority(header::HOST))
        .unwrap_or("localhost");
    let prefix = headers
        .get("x-forwarded-prefix")
        .and_then(|v| v.to_str().ok())
        .map(|p| p.trim().trim_end_matches('/'))
        .filter(|p| public_prefix_ok(p))
        .unwrap_or("");
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .filter(|p| *p == "http" || *p == "https")
        .unwrap_or("http");
    format!("{proto}://{host}{prefix}{path}")
}

/// A path prefix that may go into URLs: empty, or `/`-led segments of unreserved characters,
/// none of them `.` or `..`.
fn public_prefix_ok(p: &str) -> bool {
    p.is_empty()
        || (p.starts_with('/')
            && p.len() <= 256
            && p[1..].split('/').all(|seg| {
                !seg.is_empty()
                    && seg != "."
                    && seg != ".."
                    && seg.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
                    })
            }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_prefixes_are_paths_of_plain_segments() {
        for ok in ["", "/prod", "/api/v1", "/lambda-url/tiler"] {
            assert!(public_prefix_ok(ok), "{ok}");
        }
        for bad in [
            "prod",
            "/a/../b",
            "/a//b",
            "/a b",
            "/\"@evil",
            "//evil.example",
            "/a?b",
        ] {
            assert!(!public_prefix_ok(bad), "{bad}");
        }
    }

    #[test]
    fn tile_rows_with_scale_and_format() {
        assert_eq!(parse_y("12").unwrap(), (12, 1, None));
        assert_eq!(parse_y("12.png").unwrap(), (12, 1, Some("png".into())));
        assert_eq!(parse_y("12@2x.webp").unwrap(), (12, 2, Some("webp".into())));
        assert!(parse_y("x@2x").is_err());
        assert!(parse_y("12@9x").is_err());
        assert!(parse_pair("1,2", "p").is_ok());
        assert!(parse_pair("1;2", "p").is_err());
    }
}
