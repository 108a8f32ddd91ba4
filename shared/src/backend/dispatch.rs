//! The URI dispatcher: which backend serves a URI, with the clients of one process.

use std::sync::Arc;

#[cfg(any(feature = "dynamodb", feature = "sqlite"))]
use super::Location;
#[cfg(feature = "dynamodb")]
use super::dynamodb;
#[cfg(feature = "sqlite")]
use super::sqlite;
use super::{MosaicRead, MosaicUri, MosaicWrite, TileIndex, file, memory, parse_location};
#[cfg(any(feature = "s3", feature = "gcs", feature = "azure", feature = "http"))]
use super::{store, stores::Stores};
use crate::settings::Settings;
use crate::{Error, Result};

/// The cargo feature a scheme's backend is built with; `None` for the core's own backends
/// (a path, `file://`, `:memory:`).
pub fn required_feature(uri: &MosaicUri) -> Option<&'static str> {
    match uri {
        MosaicUri::S3 { .. } => Some("s3"),
        MosaicUri::Gcs { .. } => Some("gcs"),
        MosaicUri::Azure { .. } => Some("azure"),
        MosaicUri::Http(_) => Some("http"),
        MosaicUri::DynamoDb { .. } => Some("dynamodb"),
        MosaicUri::Sqlite { .. } => Some("sqlite"),
        MosaicUri::Stac(_) => Some("stac"),
        MosaicUri::File(_) | MosaicUri::Memory => None,
    }
}

/// The backend features and whether this build has them on.
const BACKEND_FEATURES: &[(&str, bool)] = &[
    ("s3", cfg!(feature = "s3")),
    ("gcs", cfg!(feature = "gcs")),
    ("azure", cfg!(feature = "azure")),
    ("http", cfg!(feature = "http")),
    ("dynamodb", cfg!(feature = "dynamodb")),
    ("sqlite", cfg!(feature = "sqlite")),
    ("stac", cfg!(feature = "stac")),
];

/// Whether this build has `feature` on.
fn built_with(feature: &str) -> bool {
    BACKEND_FEATURES
        .iter()
        .any(|(name, on)| *name == feature && *on)
}

/// [`Error::Unsupported`] for a scheme this build cannot serve, naming the cargo feature
/// that would (none when the feature is on and the backend is simply not written yet).
pub(crate) fn unsupported(uri: &MosaicUri) -> Error {
    let missing = required_feature(uri).filter(|f| !built_with(f));
    Error::backend_unsupported(uri.scheme(), missing)
}

/// How a mosaic is opened for reading: budgets and the HTTP proxy of network reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenOptions {
    /// Largest document accepted once decompressed ([`Error::LimitExceeded`] above it).
    pub max_document_bytes: u64,
    /// Proxy every HTTP(S) request of the object-store readers goes through (the tiler's
    /// egress gate); `None`: direct.
    pub http_proxy: Option<String>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            max_document_bytes: u64::MAX,
            http_proxy: None,
        }
    }
}

/// Every backend of one process, with its clients: built once at the edge (`main`) from
/// [`Settings`] and passed down, so that connection pools and credentials are shared and
/// tests can inject stores and clients.
///
/// ```
/// # async fn run() -> mosaic::Result<()> {
/// use mosaic::backend::Backends;
/// let backends = Backends::new(&mosaic::settings::Settings::default());
/// let mosaic = backends.open("tests/m.json").await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Backends {
    options: OpenOptions,
    #[cfg(any(feature = "s3", feature = "gcs", feature = "azure", feature = "http"))]
    stores: Stores,
    #[cfg(feature = "stac")]
    stac_client: reqwest::Client,
    #[cfg(feature = "dynamodb")]
    dynamodb: dynamodb::DynamoDbClients,
}

impl Default for Backends {
    /// Backends with no settings: object stores with their defaults, DynamoDB through the
    /// SDK's configuration chain.
    fn default() -> Backends {
        Backends::new(&Settings::default())
    }
}

impl Backends {
    /// Backends configured by `settings` (clients are built on first use, then kept).
    pub fn new(settings: &Settings) -> Backends {
        #[cfg(not(any(feature = "s3", feature = "gcs", feature = "azure", feature = "http")))]
        let _ = settings;
        Backends {
            options: OpenOptions::default(),
            #[cfg(any(feature = "s3", feature = "gcs", feature = "azure", feature = "http"))]
            stores: Stores::new(settings.clone()),
            #[cfg(feature = "stac")]
            stac_client: crate::stac::client().unwrap_or_default(),
            // The SDK loads its configuration chain (environment, profiles, instance
            // metadata) on first use, once for every client of this process.
            #[cfg(feature = "dynamodb")]
            dynamodb: dynamodb::DynamoDbClients::from_env(),
        }
    }

    /// These backends reaching DynamoDB through `clients` (injected clients, fakes,
    /// counters).
    #[cfg(feature = "dynamodb")]
    pub fn with_dynamodb(mut self, clients: dynamodb::DynamoDbClients) -> Backends {
        self.dynamodb = clients;
        self
    }

    /// Backends configured from the process environment: for `main` and tools only.
    pub fn from_env() -> Backends {
        Backends::new(&Settings::from_env())
    }

    /// These backends with budgets and a proxy for network reads.
    pub fn with_options(mut self, options: OpenOptions) -> Backends {
        #[cfg(any(feature = "s3", feature = "gcs", feature = "azure", feature = "http"))]
        {
            self.stores = self.stores.with_proxy(options.http_proxy.clone());
        }
        // STAC searches go through the same proxy as every other network read.
        #[cfg(feature = "stac")]
        if options.http_proxy.is_some() {
            match crate::stac::client_through(options.http_proxy.as_deref()) {
                Ok(c) => self.stac_client = c,
                Err(e) => tracing::error!("STAC client through the proxy: {e}"),
            }
        }
        self.options = options;
        self
    }

    /// These backends reading and writing object-store mosaics through `stores`.
    #[cfg(any(feature = "s3", feature = "gcs", feature = "azure", feature = "http"))]
    pub fn with_stores(mut self, stores: Stores) -> Backends {
        self.stores = stores.with_proxy(self.options.http_proxy.clone());
        self
    }

    /// Requests sent so far through this process's DynamoDB clients.
    #[cfg(feature = "dynamodb")]
    pub fn dynamodb_stats(&self) -> Arc<super::dynamodb::RequestStats> {
        self.dynamodb.stats()
    }

    /// The HTTP client of STAC searches.
    #[cfg(feature = "stac")]
    pub fn stac_client(&self) -> &reqwest::Client {
        &self.stac_client
    }

    /// Opens a STAC search as a mosaic ([`super::StacBackend`]): every page is fetched
    /// through this process's STAC client and the items indexed in memory. Budgets of
    /// [`OpenOptions`] apply to each page's size.
    #[cfg(feature = "stac")]
    pub async fn open_stac(&self, search: &super::StacSearch) -> Result<Arc<dyn MosaicRead>> {
        let mut search = search.clone();
        if self.options.max_document_bytes != u64::MAX {
            search.api.max_page_bytes = Some(
                search
                    .api
                    .max_page_bytes
                    .unwrap_or(u64::MAX)
                    .min(self.options.max_document_bytes),
            );
        }
        Ok(Arc::new(
            super::StacBackend::open(&self.stac_client, &search).await?,
        ))
    }

    /// The open options in force.
    pub fn options(&self) -> &OpenOptions {
        &self.options
    }

    /// Opens a mosaic for reading. `:memory:` has nothing to read: use
    /// [`memory::MemoryBackend::new`] with a document.
    pub async fn open(&self, uri: &str) -> Result<Arc<dyn MosaicRead>> {
        let opts = &self.options;
        match MosaicUri::parse(uri)? {
            MosaicUri::File(path) => Ok(Arc::new(
                file::open_limited(uri, path, opts.max_document_bytes).await?,
            )),
            #[cfg(any(feature = "s3", feature = "gcs", feature = "azure", feature = "http"))]
            p @ (MosaicUri::S3 { .. }
            | MosaicUri::Gcs { .. }
            | MosaicUri::Azure { .. }
            | MosaicUri::Http(_)) => Ok(Arc::new(store::open(uri, &p, &self.stores, opts).await?)),
            #[cfg(feature = "dynamodb")]
            MosaicUri::DynamoDb {
                region,
                table,
                mosaic,
            } => Ok(Arc::new(
                dynamodb::DynamoDbWriter::new(
                    uri,
                    region.as_deref(),
                    &table,
                    &mosaic,
                    self.dynamodb.clone(),
                )
                .open()
                .await?,
            )),
            #[cfg(feature = "sqlite")]
            MosaicUri::Sqlite { path, mosaic } => Ok(Arc::new(
                sqlite::SqliteReader::open(uri, &path, &mosaic).await?,
            )),
            MosaicUri::Memory => Err(Error::InvalidInput(
                "a :memory: mosaic has no stored document to read; give the document".into(),
            )),
            #[cfg(feature = "stac")]
            MosaicUri::Stac(_) => Err(Error::InvalidInput(format!(
                "`{uri}` is a STAC search: give its query and zooms (CLI: --stac-query, --minzoom, --maxzoom; tile API: stac_query, minzoom, maxzoom; library: Backends::open_stac)"
            ))),
            #[allow(unreachable_patterns)]
            other => Err(unsupported(&other)),
        }
    }

    /// Opens a mosaic location for writing (nothing is read). Read-only schemes answer
    /// [`Error::ReadOnly`].
    pub fn open_writer(&self, uri: &str) -> Result<Box<dyn MosaicWrite>> {
        let parsed = MosaicUri::parse(uri)?;
        if parsed.is_read_only() {
            return Err(Error::ReadOnly {
                scheme: parsed.scheme().to_string(),
            });
        }
        match parsed {
            MosaicUri::File(path) => Ok(Box::new(file::FileWriter::new(uri, path))),
            #[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
            p @ (MosaicUri::S3 { .. } | MosaicUri::Gcs { .. } | MosaicUri::Azure { .. }) => {
                Ok(Box::new(store::StoreWriter::new(uri, &p, &self.stores)?))
            }
            MosaicUri::Memory => Ok(Box::new(memory::MemoryBackend::empty())),
            other => match self.database(uri, other) {
                #[cfg(feature = "dynamodb")]
                Ok(Database::DynamoDb(m)) => Ok(Box::new(m)),
                #[cfg(feature = "sqlite")]
                Ok(Database::Sqlite(m)) => Ok(Box::new(m)),
                Err(other) => Err(unsupported(&other)),
            },
        }
    }

    /// Opens a mosaic's per-quadkey index for edits ([`TileIndex`]): DynamoDB and SQLite.
    /// Document backends (a file or object holding the whole JSON) have no per-quadkey
    /// items to edit atomically and answer [`Error::InvalidInput`] (edit them with
    /// [`MosaicWrite::update`]). Nothing is read.
    pub fn open_index(&self, uri: &str) -> Result<Box<dyn TileIndex>> {
        match self.database(uri, MosaicUri::parse(uri)?) {
            #[cfg(feature = "dynamodb")]
            Ok(Database::DynamoDb(m)) => Ok(Box::new(m)),
            #[cfg(feature = "sqlite")]
            Ok(Database::Sqlite(m)) => Ok(Box::new(m)),
            Err(other @ (MosaicUri::DynamoDb { .. } | MosaicUri::Sqlite { .. })) => {
                Err(unsupported(&other))
            }
            Err(other) => Err(Error::InvalidInput(format!(
                "`{uri}`: per-quadkey edits need a dynamodb:// or sqlite:/// mosaic; a {} mosaic is one document",
                other.scheme()
            ))),
        }
    }

    /// The mosaics stored in a DynamoDB table (`dynamodb://[{region}]/{table}`) or an
    /// SQLite file (`sqlite:///{path}`), sorted.
    pub async fn list_mosaics(&self, location: &str) -> Result<Vec<String>> {
        match parse_location(location)? {
            #[cfg(feature = "dynamodb")]
            Location::DynamoDbTable { region, table } => {
                dynamodb::list_mosaics(&self.dynamodb, region.as_deref(), &table).await
            }
            #[cfg(feature = "sqlite")]
            Location::SqliteFile(path) => sqlite::list_mosaics(&path).await,
            #[allow(unreachable_patterns)]
            other => Err(Error::backend_unsupported(
                other.scheme(),
                Some(other.feature()),
            )),
        }
    }

    /// The database a URI names; any other URI is handed back.
    #[cfg_attr(
        not(any(feature = "dynamodb", feature = "sqlite")),
        allow(unused_variables)
    )]
    fn database(&self, uri: &str, parsed: MosaicUri) -> std::result::Result<Database, MosaicUri> {
        match parsed {
            #[cfg(feature = "dynamodb")]
            MosaicUri::DynamoDb {
                region,
                table,
                mosaic,
            } => Ok(Database::DynamoDb(dynamodb::DynamoDbWriter::new(
                uri,
                region.as_deref(),
                &table,
                &mosaic,
                self.dynamodb.clone(),
            ))),
            #[cfg(feature = "sqlite")]
            MosaicUri::Sqlite { path, mosaic } => Ok(Database::Sqlite(sqlite::SqliteWriter::new(
                uri, &path, &mosaic,
            ))),
            other => Err(other),
        }
    }
}

/// The writable databases: whole-document writes ([`MosaicWrite`]) and per-quadkey edits
/// ([`TileIndex`]) over the same connection type.
enum Database {
    #[cfg(feature = "dynamodb")]
    DynamoDb(dynamodb::DynamoDbWriter),
    #[cfg(feature = "sqlite")]
    Sqlite(sqlite::SqliteWriter),
}

/// [`Backends::open`] with backends from the environment ([`Backends::from_env`]): for
/// tools and tests; servers and functions keep one [`Backends`].
pub async fn open(uri: &str) -> Result<Arc<dyn MosaicRead>> {
    Backends::from_env().open(uri).await
}

/// [`open`] with budgets and a proxy.
pub async fn open_with(uri: &str, opts: &OpenOptions) -> Result<Arc<dyn MosaicRead>> {
    Backends::from_env()
        .with_options(opts.clone())
        .open(uri)
        .await
}

/// [`Backends::open_writer`] with backends from the environment.
pub fn open_writer(uri: &str) -> Result<Box<dyn MosaicWrite>> {
    Backends::from_env().open_writer(uri)
}

/// [`Backends::open_index`] with backends from the environment.
pub fn open_index(uri: &str) -> Result<Box<dyn TileIndex>> {
    Backends::from_env().open_index(uri)
}

/// [`Backends::list_mosaics`] with backends from the environment.
pub async fn list_mosaics(location: &str) -> Result<Vec<String>> {
    Backends::from_env().list_mosaics(location).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dispatcher_types_its_refusals() {
        match open("stac+https://h/search").await {
            Err(e @ Error::InvalidInput(_)) if cfg!(feature = "stac") => {
                assert!(e.to_string().contains("--stac-query"), "{e}")
            }
            Err(e @ Error::Unsupported { .. }) if cfg!(not(feature = "stac")) => assert_eq!(
                e.to_string(),
                "the `stac` backend is not available in this build: build with the cargo feature `stac`"
            ),
            other => panic!("{other:?}"),
        }
        #[cfg(feature = "sqlite")]
        assert!(matches!(
            open("sqlite:////definitely/not/here.db:m").await,
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            open_writer("https://h/m.json"),
            Err(Error::ReadOnly { .. })
        ));
        assert!(matches!(
            open_writer("stac+https://h/search"),
            Err(Error::ReadOnly { .. })
        ));
        assert!(matches!(
            open("gopher://h/m.json").await,
            Err(Error::UnknownScheme { .. })
        ));
        assert!(matches!(
            open("/definitely/not/here.json").await,
            Err(Error::NotFound { .. })
        ));
    }
}
