//! The crate's one error type, mapped once to HTTP status codes and CLI exit codes.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure the `mosaic` crate can report, grouped by what a caller can do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A MosaicJSON document (or one of its fields) is invalid.
    #[error("invalid MosaicJSON{}: {reason}", field.as_deref().map(|f| format!(" field `{f}`")).unwrap_or_default())]
    InvalidMosaic {
        /// The offending top-level field, when one can be named.
        field: Option<String>,
        /// What is wrong with it.
        reason: String,
    },
    /// A TileMatrixSet is unknown, malformed or cannot index quadkeys.
    #[error("TileMatrixSet error: {0}")]
    Tms(String),
    /// A request argument is out of range or malformed (zoom, bbox, option value, feature).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// An input file's contents are invalid (GeoJSON features, a URL list): bad data, not a
    /// bad argument.
    #[error("invalid data: {0}")]
    InvalidData(String),
    /// The mosaic URI cannot be parsed.
    #[error("invalid mosaic URI `{uri}`: {reason}")]
    InvalidUri {
        /// The URI as given.
        uri: String,
        /// Why it was refused.
        reason: String,
    },
    /// The URI scheme is not one of the schemes this crate knows.
    #[error(
        "'{scheme}' is not supported: use a path, file://, s3://, gs://, az://, dynamodb://, sqlite:///, http(s)://, stac+http(s):// or :memory:"
    )]
    UnknownScheme {
        /// The scheme found in the URI.
        scheme: String,
    },
    /// The scheme is known but its backend is not built into this release.
    #[error("the `{scheme}` backend is not available in this build yet")]
    Unsupported {
        /// The scheme that was asked for.
        scheme: String,
    },
    /// The backend can only be read.
    #[error("the `{scheme}` backend is read-only")]
    ReadOnly {
        /// The read-only scheme.
        scheme: String,
    },
    /// The mosaic does not exist.
    #[error("mosaic not found: {uri}")]
    NotFound {
        /// Where it was looked for.
        uri: String,
    },
    /// The mosaic exists and the write did not ask to overwrite it.
    #[error("mosaic already exists: {uri} (overwrite it explicitly)")]
    AlreadyExists {
        /// The existing mosaic.
        uri: String,
    },
    /// Credentials are missing or refused by the store.
    #[error("not authorized to access {uri}: {reason}")]
    Auth {
        /// The URI being accessed.
        uri: String,
        /// The store's answer.
        reason: String,
    },
    /// The store failed for another reason.
    #[error("storage error for {uri}: {reason}")]
    Storage {
        /// The URI being accessed.
        uri: String,
        /// The store's answer.
        reason: String,
    },
    /// A local file could not be read or written.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A dataset (COG) could not be opened or read.
    #[error("cannot read dataset {path}: {reason}")]
    Dataset {
        /// The asset path or URL.
        path: String,
        /// GDAL's message.
        reason: String,
    },
    /// Datasets given to one mosaic have different data types.
    #[error("datasets have multiple data types: {}", .0.join(", "))]
    MultipleDataTypes(Vec<String>),
    /// A look-up found no asset.
    #[error("no assets found for {0}")]
    NoAssets(String),
    /// Assets were found but none has data for the request.
    #[error("empty mosaic: {0}")]
    EmptyMosaic(String),
    /// A stored item would exceed the store's size limit (DynamoDB: 400 KB per quadkey).
    #[error("quadkey {quadkey} of {uri} is too large to store{}: split the mosaic (higher quadkey_zoom) or shorten asset names", bytes.map(|b| format!(" ({b} bytes)")).unwrap_or_default())]
    ItemTooLarge {
        /// The mosaic being written.
        uri: String,
        /// The quadkey whose asset list is too large.
        quadkey: String,
        /// The item's size, when computed before sending.
        bytes: Option<usize>,
    },
    /// A location refused by the security gate ([`crate::gate`]): outside the allowlist,
    /// GDAL syntax in an asset, a link-local or metadata host, a path leaving the root.
    #[error("`{location}` is refused: {reason}")]
    Forbidden {
        /// The location as given.
        location: String,
        /// Why it was refused.
        reason: String,
    },
    /// A request or document exceeds one of the configured budgets (document size,
    /// quadkeys per look-up, pixels or bytes per tile).
    #[error("{what} exceeds the limit of {limit} ({setting}){}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    LimitExceeded {
        /// What was too large.
        what: String,
        /// The limit in force.
        limit: u64,
        /// The setting that changes it.
        setting: &'static str,
        /// More about the request, when known.
        detail: Option<String>,
    },
    /// A bug, not the caller's input: a worker task panicked or was cancelled.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The HTTP status code a tile API answers for this error.
    ///
    /// ```
    /// assert_eq!(mosaic::Error::NoAssets("tile 1-2-3".into()).http_status(), 204);
    /// ```
    pub fn http_status(&self) -> u16 {
        match self {
            Error::NoAssets(_) | Error::EmptyMosaic(_) => 204,
            Error::InvalidMosaic { .. }
            | Error::Tms(_)
            | Error::InvalidInput(_)
            | Error::InvalidData(_)
            | Error::InvalidUri { .. }
            | Error::UnknownScheme { .. }
            | Error::MultipleDataTypes(_)
            | Error::ItemTooLarge { .. } => 400,
            Error::Auth { .. } | Error::Forbidden { .. } => 403,
            Error::LimitExceeded { .. } => 413,
            Error::NotFound { .. } => 404,
            Error::ReadOnly { .. } => 405,
            Error::AlreadyExists { .. } => 409,
            Error::Unsupported { .. } => 501,
            Error::Storage { .. } | Error::Io { .. } | Error::Dataset { .. } => 424,
            Error::Internal(_) => 500,
        }
    }

    /// The process exit code the `mosaic` CLI uses for this error (sysexits-style, never 0).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::InvalidInput(_)
            | Error::InvalidUri { .. }
            | Error::UnknownScheme { .. }
            | Error::Tms(_) => 64, // EX_USAGE
            Error::InvalidMosaic { .. }
            | Error::InvalidData(_)
            | Error::MultipleDataTypes(_)
            | Error::ItemTooLarge { .. } => 65, // EX_DATAERR
            Error::NotFound { .. } => 66, // EX_NOINPUT
            Error::NoAssets(_) | Error::EmptyMosaic(_) => 3,
            Error::Unsupported { .. } | Error::ReadOnly { .. } => 69, // EX_UNAVAILABLE
            Error::AlreadyExists { .. } => 73,                        // EX_CANTCREAT
            Error::Io { .. } => 74,                                   // EX_IOERR
            Error::Auth { .. } | Error::Forbidden { .. } => 77,       // EX_NOPERM
            Error::LimitExceeded { .. } => 65,                        // EX_DATAERR
            Error::Storage { .. } | Error::Dataset { .. } => 75,      // EX_TEMPFAIL
            Error::Internal(_) => 70,                                 // EX_SOFTWARE
        }
    }

    /// A copy of this error (I/O sources are rebuilt from their kind and message), for
    /// errors shared between waiters of one cache load.
    pub fn duplicate(&self) -> Error {
        match self {
            Error::InvalidMosaic { field, reason } => Error::InvalidMosaic {
                field: field.clone(),
                reason: reason.clone(),
            },
            Error::Tms(m) => Error::Tms(m.clone()),
            Error::InvalidInput(m) => Error::InvalidInput(m.clone()),
            Error::InvalidData(m) => Error::InvalidData(m.clone()),
            Error::InvalidUri { uri, reason } => Error::InvalidUri {
                uri: uri.clone(),
                reason: reason.clone(),
            },
            Error::UnknownScheme { scheme } => Error::UnknownScheme {
                scheme: scheme.clone(),
            },
            Error::Unsupported { scheme } => Error::Unsupported {
                scheme: scheme.clone(),
            },
            Error::ReadOnly { scheme } => Error::ReadOnly {
                scheme: scheme.clone(),
            },
            Error::NotFound { uri } => Error::NotFound { uri: uri.clone() },
            Error::AlreadyExists { uri } => Error::AlreadyExists { uri: uri.clone() },
            Error::Auth { uri, reason } => Error::Auth {
                uri: uri.clone(),
                reason: reason.clone(),
            },
            Error::Storage { uri, reason } => Error::Storage {
                uri: uri.clone(),
                reason: reason.clone(),
            },
            Error::Io { path, source } => Error::Io {
                path: path.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
            Error::Dataset { path, reason } => Error::Dataset {
                path: path.clone(),
                reason: reason.clone(),
            },
            Error::MultipleDataTypes(t) => Error::MultipleDataTypes(t.clone()),
            Error::NoAssets(m) => Error::NoAssets(m.clone()),
            Error::EmptyMosaic(m) => Error::EmptyMosaic(m.clone()),
            Error::ItemTooLarge {
                uri,
                quadkey,
                bytes,
            } => Error::ItemTooLarge {
                uri: uri.clone(),
                quadkey: quadkey.clone(),
                bytes: *bytes,
            },
            Error::Forbidden { location, reason } => Error::Forbidden {
                location: location.clone(),
                reason: reason.clone(),
            },
            Error::LimitExceeded {
                what,
                limit,
                setting,
                detail,
            } => Error::LimitExceeded {
                what: what.clone(),
                limit: *limit,
                setting,
                detail: detail.clone(),
            },
            Error::Internal(m) => Error::Internal(m.clone()),
        }
    }

    /// A blocking task (`what`) that did not return: it panicked or was cancelled.
    pub(crate) fn task_failed(what: &str, e: tokio::task::JoinError) -> Self {
        Error::Internal(format!("{what} task failed: {e}"))
    }

    pub(crate) fn invalid_field(field: &str, reason: impl Into<String>) -> Self {
        Error::InvalidMosaic {
            field: Some(field.to_string()),
            reason: reason.into(),
        }
    }

    /// A refusal of the security gate.
    pub fn forbidden(location: &str, reason: impl Into<String>) -> Self {
        Error::Forbidden {
            location: location.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Runs CPU-bound or blocking work (`what` names it in errors) on tokio's blocking pool; a
/// panic in `f` becomes [`Error::Internal`] instead of unwinding into the caller.
pub async fn run_blocking<T, F>(what: &str, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::task_failed(what, e))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_blocking_task_is_an_internal_error() {
        let e = run_blocking("probe", || -> Result<()> { panic!("boom") })
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Internal(ref m) if m.starts_with("probe task failed")));
        assert_eq!((e.http_status(), e.exit_code()), (500, 70));
        assert_eq!(run_blocking("ok", || Ok(7)).await.unwrap(), 7);
    }
}
