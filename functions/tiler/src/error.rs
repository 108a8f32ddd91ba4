//! The API's error: one mapping from `mosaic::Error` (and request problems) to HTTP status
//! and a JSON `{"detail": ...}` body, as titiler answers. No asset / empty mosaic → 204.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An error answered by the API.
#[derive(Debug)]
pub enum ApiError {
    /// From the library.
    Mosaic(mosaic::Error),
    /// Malformed request parameter (400).
    BadRequest(String),
    /// Missing or invalid required parameter (422, as FastAPI validation does).
    Unprocessable(String),
    /// URI or asset outside `MOSAIC_ALLOWED_URLS` (403).
    Forbidden(String),
    /// Unknown route or mosaic id (404).
    NotFound(String),
}

impl From<mosaic::Error> for ApiError {
    fn from(e: mosaic::Error) -> Self {
        ApiError::Mosaic(e)
    }
}

impl ApiError {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        match self {
            // The library maps its errors once (unreadable assets → 424, never the client's).
            ApiError::Mosaic(e) => {
                StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_GATEWAY)
            }
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::Mosaic(e) => e.to_string(),
            ApiError::BadRequest(m)
            | ApiError::Unprocessable(m)
            | ApiError::Forbidden(m)
            | ApiError::NotFound(m) => m.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status == StatusCode::NO_CONTENT {
            return (
                status,
                [("x-reason", self.detail().replace(['\r', '\n'], " "))],
            )
                .into_response();
        }
        if status.is_server_error() {
            tracing::error!("{status}: {}", self.detail());
        }
        (
            status,
            axum::Json(serde_json::json!({ "detail": self.detail() })),
        )
            .into_response()
    }
}

/// Result of a handler.
pub type ApiResult<T> = std::result::Result<T, ApiError>;

/// Errors answered by axum itself rather than a handler (a path segment that is not UTF-8,
/// a method the route does not take) come as plain text or an empty body: give them the same
/// `{"detail": ...}` shape as every other error.
pub async fn json_rejections(resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let detail = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    let mut out = (status, axum::Json(serde_json::json!({ "detail": detail }))).into_response();
    for (k, v) in parts.headers.iter() {
        if k != axum::http::header::CONTENT_TYPE && k != axum::http::header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}
