//! What a person opening the server finds: a landing page at `/` (what this is, the demo
//! mosaic's viewer, the endpoints), the OpenAPI document at `/openapi.json` and its HTML form
//! at `/docs` (titiler serves both).

use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::AppState;
use crate::routes::base_url;

/// The OpenAPI 3.1 document of the API.
const OPENAPI: &str = include_str!("../static/openapi.json");

/// `text` with HTML's special characters escaped.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn html(body: String) -> Response {
    let mut resp = body.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}

/// `text` (escaped HTML) with its Markdown code spans (`` `x` ``, as OpenAPI summaries write
/// them) as `<code>` elements; an unpaired backtick stays as it is.
fn code_spans(text: &str) -> String {
    let parts: Vec<&str> = text.split('`').collect();
    if parts.len().is_multiple_of(2) {
        return text.to_string();
    }
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("<code>{part}</code>")
            } else {
                part.to_string()
            }
        })
        .collect()
}

/// The endpoints of the OpenAPI document as an HTML list.
fn endpoint_list() -> String {
    let doc: Value = serde_json::from_str(OPENAPI).unwrap_or(Value::Null);
    let mut out = String::from("<ul>");
    for (path, ops) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in ops.as_object().into_iter().flatten() {
            out.push_str(&format!(
                "<li><code>{} {}</code>: {}</li>",
                method.to_ascii_uppercase(),
                escape(path),
                code_spans(&escape(op["summary"].as_str().unwrap_or("")))
            ));
        }
    }
    out.push_str("</ul>");
    out
}

/// `GET /openapi.json`.
pub(crate) async fn openapi() -> Response {
    let mut resp = OPENAPI.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// `GET /docs`.
pub(crate) async fn docs() -> Response {
    html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>mosaic tiler: API</title></head>\
         <body><h1>mosaic tiler: API</h1><p>The OpenAPI document: <a href=\"openapi.json\">openapi.json</a>.</p>{}</body></html>",
        endpoint_list()
    ))
}

/// `GET /`: what this server is and where to go.
pub(crate) async fn landing(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let base = base_url(&state, &headers, &uri, "/", 0);
    let demo = match &state.config.demo_mosaic {
        Some(m) => {
            let q: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("url", m)
                .finish();
            let link = |path: &str, label: &str| {
                format!(
                    "<li><a href=\"{}\">{label}</a></li>",
                    escape(&format!("{base}/mosaicjson/{path}?{q}"))
                )
            };
            format!(
                "<h2>The demo mosaic</h2><ul>{}{}{}{}</ul>",
                link("WebMercatorQuad/map.html", "viewer (map.html)"),
                link("WebMercatorQuad/tilejson.json", "TileJSON"),
                link("WebMercatorQuad/WMTSCapabilities.xml", "WMTS capabilities"),
                link("info", "info"),
            )
        }
        None => String::new(),
    };
    html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>mosaic tiler</title></head><body>\
         <h1>mosaic tiler</h1>\
         <p>A titiler-compatible tile server for MosaicJSON mosaics of Cloud-Optimized GeoTIFFs: \
         add <code>?url=</code> with a mosaic URI (a file, <code>s3://</code>, <code>dynamodb://</code>, \
         <code>sqlite:///</code>, <code>stac+https://…/search</code>…) to the endpoints below.</p>\
         {demo}<h2>Endpoints</h2><p><a href=\"{docs}\">API documentation</a> · \
         <a href=\"{openapi}\">openapi.json</a> · <a href=\"{health}\">healthz</a></p>{list}</body></html>",
        docs = escape(&format!("{base}/docs")),
        openapi = escape(&format!("{base}/openapi.json")),
        health = escape(&format!("{base}/healthz")),
        list = endpoint_list(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_show_code_spans_as_code() {
        assert_eq!(
            code_spans("tile (`{y}[.{format}]`): png"),
            "tile (<code>{y}[.{format}]</code>): png"
        );
        assert_eq!(code_spans("one ` alone"), "one ` alone");
        assert!(!endpoint_list().contains('`'), "{}", endpoint_list());
    }
}
