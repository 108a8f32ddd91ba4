//! The crate's one error type, mapped once to HTTP status codes, CLI exit codes and Lambda
//! error types, and classified once as retryable or permanent.

use std::path::PathBuf;
use std::sync::Arc;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The underlying error a variant keeps as its `source`: a store's, an SDK's, a parser's.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

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
    /// Known, but not built into this binary: a backend or a capability whose cargo
    /// feature is off, or one not implemented yet.
    #[error("{what} is not available in this build{}", feature.map(|f| format!(": build with the cargo feature `{f}`")).unwrap_or_else(|| " yet".into()))]
    Unsupported {
        /// What was asked for (`the \`s3\` backend`, `the CRS \`EPSG:3031\``).
        what: String,
        /// The cargo feature that provides it, when one does.
        feature: Option<&'static str>,
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
    #[error("not authorized to access {uri}: {source}")]
    Auth {
        /// The URI being accessed.
        uri: String,
        /// The store's answer.
        #[source]
        source: BoxError,
    },
    /// The store failed for another reason.
    #[error("storage error for {uri}: {source}")]
    Storage {
        /// The URI being accessed.
        uri: String,
        /// Whether the same request may succeed later (throttling, a 5xx, a timeout, a lost
        /// race), decided from the store's typed answer where the error was made.
        retryable: bool,
        /// The store's answer.
        #[source]
        source: BoxError,
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
        /// Whether a later attempt may succeed: network and I/O failures are, an object that
        /// is missing, refused or not a GeoTIFF is not (from GDAL's error number).
        retryable: bool,
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
    /// One failure handed to several waiters (a cache load that many requests awaited). It
    /// answers every question as the error it holds.
    #[error(transparent)]
    Shared(Arc<Error>),
}

/// An underlying error with what was being done when it happened: shown as
/// `{context}: {source}`, and keeping `source` in the chain.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {source}")]
pub struct Context {
    context: String,
    #[source]
    source: BoxError,
}

impl Context {
    /// `source`, which happened while doing `context`.
    pub fn new(context: impl Into<String>, source: impl Into<BoxError>) -> Context {
        Context {
            context: context.into(),
            source: source.into(),
        }
    }
}

/// The words every "no AWS credentials" failure starts with, whichever client looked for
/// them (S3 through object_store, DynamoDB through the AWS SDK), so both say the same.
pub const NO_AWS_CREDENTIALS: &str = "no AWS credentials found";

/// No credentials were found for an AWS request: every source of the client's chain was
/// tried and none gave any. Made by the clients' credential code (typed, never recognised
/// from a message) and classified as [`Error::Auth`]; `source` is the last source's failure
/// (an unreachable instance metadata service), when there was one.
#[derive(Debug, thiserror::Error)]
#[error("{NO_AWS_CREDENTIALS} (tried {tried})")]
pub struct NoAwsCredentials {
    tried: &'static str,
    #[source]
    source: Option<BoxError>,
}

impl NoAwsCredentials {
    /// After trying `tried` (`"env, profile, instance metadata"`); `source`: why the last
    /// one gave nothing.
    pub fn new(tried: &'static str, source: Option<BoxError>) -> NoAwsCredentials {
        NoAwsCredentials { tried, source }
    }
}

/// The first error of type `T` in the source chain of `e` (`e` itself included).
pub fn find_source<'a, T: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(t) = err.downcast_ref::<T>() {
            return Some(t);
        }
        next = err.source();
    }
    None
}

/// An error shown as `text` (one line, what the user needs) that keeps the whole failure
/// as its source for `{:#}`-style reporters and logs.
#[derive(Debug)]
pub struct Shown {
    text: String,
    source: BoxError,
}

impl Shown {
    /// `source`, shown as `text`.
    pub fn new(text: impl Into<String>, source: impl Into<BoxError>) -> Shown {
        Shown {
            text: text.into(),
            source: source.into(),
        }
    }
}

impl std::fmt::Display for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for Shown {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.source.as_ref())
    }
}

impl From<Arc<Error>> for Error {
    /// The error itself when this was its last holder, else [`Error::Shared`].
    fn from(e: Arc<Error>) -> Error {
        Arc::try_unwrap(e).unwrap_or_else(Error::Shared)
    }
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
            Error::Shared(e) => e.http_status(),
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
            // A file that is not there is missing input (as a missing mosaic is).
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => 66,
            Error::Io { .. } => 74,                             // EX_IOERR
            Error::Auth { .. } | Error::Forbidden { .. } => 77, // EX_NOPERM
            Error::LimitExceeded { .. } => 65,                  // EX_DATAERR
            // A dataset GDAL found missing, refused or not a GeoTIFF is missing input; a
            // read that failed on the network may succeed later.
            Error::Dataset {
                retryable: false, ..
            } => 66, // EX_NOINPUT
            Error::Storage { .. } | Error::Dataset { .. } => 75, // EX_TEMPFAIL
            Error::Internal(_) => 70,                            // EX_SOFTWARE
            Error::Shared(e) => e.exit_code(),
        }
    }

    /// Whether repeating the same operation later may succeed: throttling, a server's 5xx,
    /// a timeout, a lost optimistic-concurrency race, a dataset read that failed on the
    /// network. Everything a caller must change first (input, permissions, configuration,
    /// a missing mosaic) is permanent. The ingest function sends retryable failures back to
    /// the queue and drops permanent ones; Lambda reports the class in `error_type`.
    ///
    /// ```
    /// use mosaic::Error;
    /// assert!(!Error::NotFound { uri: "s3://b/m.json".into() }.retryable());
    /// assert!(Error::Storage { uri: "s3://b/m.json".into(), retryable: true, source: "503".into() }.retryable());
    /// ```
    pub fn retryable(&self) -> bool {
        match self {
            Error::Storage { retryable, .. } => *retryable,
            Error::Dataset { retryable, .. } => *retryable,
            Error::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::Interrupted
                    | std::io::ErrorKind::WouldBlock
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::ResourceBusy
            ),
            Error::Shared(e) => e.retryable(),
            Error::InvalidMosaic { .. }
            | Error::Tms(_)
            | Error::InvalidInput(_)
            | Error::InvalidData(_)
            | Error::InvalidUri { .. }
            | Error::UnknownScheme { .. }
            | Error::Unsupported { .. }
            | Error::ReadOnly { .. }
            | Error::NotFound { .. }
            | Error::AlreadyExists { .. }
            | Error::Auth { .. }
            | Error::MultipleDataTypes(_)
            | Error::NoAssets(_)
            | Error::EmptyMosaic(_)
            | Error::ItemTooLarge { .. }
            | Error::Forbidden { .. }
            | Error::LimitExceeded { .. }
            | Error::Internal(_) => false,
        }
    }

    /// The error itself, or for [`Error::Shared`] the error it holds: what to match on.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use mosaic::Error;
    /// let e = Arc::new(Error::NoAssets("tile".into()));
    /// let shared = Error::from(e.clone());
    /// assert!(matches!(shared.root(), Error::NoAssets(_)));
    /// ```
    pub fn root(&self) -> &Error {
        match self {
            Error::Shared(e) => e.root(),
            other => other,
        }
    }

    /// The variant's name (`Storage`, `NotFound`, …): the second part of
    /// [`Error::lambda_error_type`].
    pub fn kind(&self) -> &'static str {
        match self {
            Error::InvalidMosaic { .. } => "InvalidMosaic",
            Error::Tms(_) => "Tms",
            Error::InvalidInput(_) => "InvalidInput",
            Error::InvalidData(_) => "InvalidData",
            Error::InvalidUri { .. } => "InvalidUri",
            Error::UnknownScheme { .. } => "UnknownScheme",
            Error::Unsupported { .. } => "Unsupported",
            Error::ReadOnly { .. } => "ReadOnly",
            Error::NotFound { .. } => "NotFound",
            Error::AlreadyExists { .. } => "AlreadyExists",
            Error::Auth { .. } => "Auth",
            Error::Storage { .. } => "Storage",
            Error::Io { .. } => "Io",
            Error::Dataset { .. } => "Dataset",
            Error::MultipleDataTypes(_) => "MultipleDataTypes",
            Error::NoAssets(_) => "NoAssets",
            Error::EmptyMosaic(_) => "EmptyMosaic",
            Error::ItemTooLarge { .. } => "ItemTooLarge",
            Error::Forbidden { .. } => "Forbidden",
            Error::LimitExceeded { .. } => "LimitExceeded",
            Error::Internal(_) => "Internal",
            Error::Shared(e) => e.kind(),
        }
    }

    /// The `errorType` a Lambda function reports: `Retryable.{kind}` or `Permanent.{kind}`,
    /// so alarms, Step Functions `Retry` matchers and dead-letter triage can tell them apart.
    ///
    /// ```
    /// let e = mosaic::Error::InvalidInput("zoom".into());
    /// assert_eq!(e.lambda_error_type(), "Permanent.InvalidInput");
    /// ```
    pub fn lambda_error_type(&self) -> String {
        let class = if self.retryable() {
            "Retryable"
        } else {
            "Permanent"
        };
        format!("{class}.{}", self.kind())
    }

    /// A store failure the same request may get past later.
    pub fn transient(uri: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Storage {
            uri: uri.into(),
            retryable: true,
            source: source.into(),
        }
    }

    /// A store failure that repeating will not fix (a malformed answer, an unsupported
    /// store feature, a request the store refuses as invalid).
    pub fn storage(uri: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Storage {
            uri: uri.into(),
            retryable: false,
            source: source.into(),
        }
    }

    /// The backend of `scheme` is not built in: `feature` would provide it.
    pub fn backend_unsupported(scheme: &str, feature: Option<&'static str>) -> Self {
        Error::Unsupported {
            what: format!("the `{scheme}` backend"),
            feature,
        }
    }

    /// Credentials missing or refused.
    pub fn auth(uri: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Auth {
            uri: uri.into(),
            source: source.into(),
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

    #[test]
    fn each_class_reports_its_lambda_error_type() {
        let io = |kind| Error::io("/x", std::io::Error::from(kind));
        let cases = [
            (Error::transient("s3://b/m", "503"), "Retryable.Storage"),
            (Error::storage("s3://b/m", "not JSON"), "Permanent.Storage"),
            (Error::auth("s3://b/m", "403"), "Permanent.Auth"),
            (Error::NotFound { uri: "m".into() }, "Permanent.NotFound"),
            (Error::InvalidInput("zoom".into()), "Permanent.InvalidInput"),
            (
                Error::Dataset {
                    retryable: true,
                    path: "a.tif".into(),
                    reason: "HTTP 500".into(),
                },
                "Retryable.Dataset",
            ),
            (io(std::io::ErrorKind::TimedOut), "Retryable.Io"),
            (io(std::io::ErrorKind::PermissionDenied), "Permanent.Io"),
            (Error::Internal("panic".into()), "Permanent.Internal"),
        ];
        for (e, want) in cases {
            assert_eq!(e.lambda_error_type(), want, "{e}");
            // One failure shared by many waiters answers as itself.
            let shared = Error::Shared(Arc::new(e));
            assert_eq!(shared.lambda_error_type(), want);
            assert_eq!(shared.root().kind(), shared.kind());
        }
        // The cause stays reachable.
        let e = Error::transient("s3://b/m", Context::new("reading", "connection reset"));
        let source = std::error::Error::source(&e).unwrap();
        assert_eq!(source.to_string(), "reading: connection reset");
        assert_eq!(
            e.to_string(),
            "storage error for s3://b/m: reading: connection reset"
        );
    }

    /// A dataset GDAL found missing, refused or not a GeoTIFF is missing input (66); one
    /// that failed on the network may be read later (75). The HTTP status stays 424.
    #[test]
    fn dataset_exit_codes_follow_retryability() {
        let dataset = |retryable| Error::Dataset {
            retryable,
            path: "a.tif".into(),
            reason: "r".into(),
        };
        assert_eq!(dataset(false).exit_code(), 66);
        assert_eq!(dataset(true).exit_code(), 75);
        assert_eq!(Error::Shared(Arc::new(dataset(false))).exit_code(), 66);
        assert_eq!(dataset(false).http_status(), 424);
        assert_eq!(dataset(true).http_status(), 424);
    }

    #[test]
    fn missing_credentials_read_as_one_line_and_keep_their_cause() {
        let e = NoAwsCredentials::new("env", Some("connection refused".into()));
        assert_eq!(e.to_string(), "no AWS credentials found (tried env)");
        let shown = Shown::new(e.to_string(), e);
        let source = std::error::Error::source(&shown).unwrap();
        assert!(find_source::<NoAwsCredentials>(source).is_some());
        assert_eq!(
            std::error::Error::source(source).map(|s| s.to_string()),
            Some("connection refused".into())
        );
    }

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
