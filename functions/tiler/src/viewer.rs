//! The map viewer: `/{tms}/map.html` (a MapLibre page) and the map library it loads from
//! `/static/`. MapLibre GL JS is vendored from the npm registry (`scripts/vendor-maplibre.sh`)
//! and embedded in the binary, so the viewer needs no network beyond the tiler itself —
//! offline, and in Lambda.

use std::collections::HashMap;

use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::AppState;
use crate::error::{ApiError, ApiResult};

const PAGE: &str = include_str!("../static/map.html");
const MAPLIBRE_JS: &[u8] = include_bytes!("../static/vendor/maplibre-gl/maplibre-gl.js");
const MAPLIBRE_CSS: &[u8] = include_bytes!("../static/vendor/maplibre-gl/maplibre-gl.css");
const MAPLIBRE_LICENSE: &[u8] = include_bytes!("../static/vendor/maplibre-gl/LICENSE.txt");
/// `maplibre-gl X.Y.Z` on the first line of the vendored `VERSION` file.
const MAPLIBRE_VERSION_FILE: &str = include_str!("../static/vendor/maplibre-gl/VERSION");

/// The vendored MapLibre version (cache-busting query of the page's links).
pub fn maplibre_version() -> &'static str {
    MAPLIBRE_VERSION_FILE
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("maplibre-gl "))
        .unwrap_or("unknown")
}

/// A raster basemap under the mosaic (`MOSAIC_BASEMAP_URL`, an XYZ template such as
/// `https://tile.openstreetmap.org/{z}/{x}/{y}.png`; `MOSAIC_BASEMAP_ATTRIBUTION`). None by
/// default: the viewer must work offline, and a third-party basemap is the operator's choice.
#[derive(Debug, Clone, PartialEq)]
pub struct Basemap {
    /// The tile URL template, with `{z}`, `{x}` and `{y}`.
    pub url: String,
    /// Shown in the map's attribution.
    pub attribution: Option<String>,
}

impl Basemap {
    /// The basemap of `url`: an `http(s)://` template naming `{z}`, `{x}` and `{y}`; anything
    /// else is refused (logged at start-up, no basemap).
    pub fn parse(url: &str, attribution: Option<String>) -> Result<Basemap, String> {
        let url = url.trim();
        let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
        let placeholders = ["{z}", "{x}", "{y}"].iter().all(|p| url.contains(p));
        if !scheme_ok || !placeholders || url.chars().any(|c| c.is_control() || c == '"') {
            return Err(format!(
                "MOSAIC_BASEMAP_URL must be an http(s) tile URL with {{z}}, {{x}} and {{y}}, got `{url}`"
            ));
        }
        Ok(Basemap {
            url: url.to_string(),
            attribution,
        })
    }

    /// `MOSAIC_BASEMAP_URL` / `MOSAIC_BASEMAP_ATTRIBUTION` through `var`.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Option<Basemap> {
        let url = var("MOSAIC_BASEMAP_URL")?;
        Basemap::parse(&url, var("MOSAIC_BASEMAP_ATTRIBUTION"))
            .inspect_err(|e| tracing::warn!("{e}: the viewer shows no basemap"))
            .ok()
    }
}

/// `GET /{tms}/map.html`: the page for any mosaic URL; the page itself reports what the
/// TileJSON and tile requests answer (a mosaic that cannot be read shows its error there).
pub(crate) async fn map_html(
    State(state): State<AppState>,
    Path(path): Path<HashMap<String, String>>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    if path.get("tms").map(String::as_str) != Some("WebMercatorQuad") {
        return Err(ApiError::BadRequest(
            "the viewer draws WebMercatorQuad tiles only".into(),
        ));
    }
    let config = json!({
        "basemap": state.config.basemap.as_ref().map(|b| json!({"url": b.url, "attribution": b.attribution})),
    });
    let page = PAGE
        .replace("{{STATIC}}", &static_prefix(uri.path()))
        .replace("{{MAPLIBRE_VERSION}}", maplibre_version())
        // Inside <script>: `<` escaped so no value can close the element.
        .replace("{{CONFIG}}", &config.to_string().replace('<', "\\u003c"));
    let mut resp = page.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    Ok(resp)
}

/// The relative path from the page at `path` (as routed) to `/static/`: relative, so it holds
/// under any prefix the client's URL has (a stage, a base path, cargo-lambda's
/// `/lambda-url/{function}`) without knowing it.
fn static_prefix(path: &str) -> String {
    let depth = path.trim_start_matches('/').matches('/').count();
    format!("{}static/", "../".repeat(depth))
}

/// `GET /static/{file}`: the vendored map library (immutable per version: cached a day).
pub(crate) async fn static_file(Path(file): Path<String>) -> ApiResult<Response> {
    let (body, content_type): (&'static [u8], &'static str) = match file.as_str() {
        "maplibre-gl.js" => (MAPLIBRE_JS, "text/javascript; charset=utf-8"),
        "maplibre-gl.css" => (MAPLIBRE_CSS, "text/css; charset=utf-8"),
        "maplibre-gl.LICENSE.txt" => (MAPLIBRE_LICENSE, "text/plain; charset=utf-8"),
        _ => return Err(ApiError::NotFound(format!("no static file {file}"))),
    };
    let mut resp = body.into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_links_are_relative_to_the_page() {
        assert_eq!(
            static_prefix("/mosaicjson/WebMercatorQuad/map.html"),
            "../../static/"
        );
        assert_eq!(
            static_prefix("/mosaics/abc/WebMercatorQuad/map.html"),
            "../../../static/"
        );
    }

    #[test]
    fn basemaps_are_http_tile_templates() {
        let ok = Basemap::parse("https://tile.openstreetmap.org/{z}/{x}/{y}.png", None).unwrap();
        assert_eq!(ok.url, "https://tile.openstreetmap.org/{z}/{x}/{y}.png");
        for bad in [
            "file:///etc/{z}/{x}/{y}",
            "https://tiles.example/{z}/{x}.png",
            "javascript:alert(1)//{z}{x}{y}",
            "https://x.example/{z}/{x}/{y}\"</script>",
        ] {
            assert!(Basemap::parse(bad, None).is_err(), "{bad}");
        }
        assert!(
            maplibre_version().starts_with('5'),
            "{}",
            maplibre_version()
        );
    }
}
