//! Object stores — S3, GCS, Azure Blob (read-write) and HTTP(S) (read-only) — behind one
//! implementation over `Arc<dyn ObjectStore>` (the `object_store` crate). Only building
//! the store differs per cloud ([`Stores`]: built once per bucket from the settings, or
//! injected).
//!
//! Writes are conditional where the store allows: `WriteMode::Create` is a put with
//! If-None-Match (`PutMode::Create`), `update` a read-modify-write with If-Match / generation
//! match (`PutMode::Update`), retried on conflict, so concurrent writers never lose an update.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};

use super::stores::Stores;
use super::{DocumentBackend, MosaicUri, MosaicWrite, OpenOptions, WriteMode};
use crate::create::{Footprint, UpdateOptions};
use crate::error::run_blocking;
use crate::mosaicjson::MosaicJson;
use crate::{Error, Result};

/// How many times `update` re-reads and retries after losing a race.
const UPDATE_ATTEMPTS: usize = 8;

/// Maps an object store error to the crate's categories, naming the URI. object_store
/// types the statuses it knows (404, 409, 412, 304, 401, 403); what reaches us as
/// `Generic` failed after object_store's own retries of 5xx, 429 and transport errors, so
/// it is retryable unless its chain holds a transport error object_store calls final
/// (an undecodable answer). object_store 0.14 keeps the status of `Generic` in a private
/// type, so 5xx and other statuses cannot be told apart here.
///
/// No credentials at all (our provider's typed
/// [`NoAwsCredentials`](crate::error::NoAwsCredentials) in the chain) is `Error::Auth`,
/// shown as that one line; another failure of the AWS SDK's credentials chain (a broken
/// profile) is `Error::Auth` too.
pub(crate) fn store_error(uri: &str, e: object_store::Error) -> Error {
    use object_store::Error as E;
    use object_store::client::{HttpError, HttpErrorKind};
    if let Some(missing) = crate::error::find_source::<crate::error::NoAwsCredentials>(&e) {
        let text = missing.to_string();
        return Error::auth(uri, crate::error::Shown::new(text, e));
    }
    #[cfg(feature = "s3")]
    if crate::error::find_source::<aws_credential_types::provider::error::CredentialsError>(&e)
        .is_some()
    {
        return Error::auth(uri, e);
    }
    match e {
        E::NotFound { .. } => Error::NotFound {
            uri: uri.to_string(),
        },
        E::AlreadyExists { .. } => Error::AlreadyExists {
            uri: uri.to_string(),
        },
        E::Unauthenticated { .. } | E::PermissionDenied { .. } => Error::auth(uri, e),
        // Another writer moved the version between our read and our write.
        E::Precondition { .. } | E::NotModified { .. } => Error::transient(uri, e),
        E::Generic { .. } | E::JoinError { .. } => {
            let mut next: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            let mut final_transport = false;
            while let Some(err) = next {
                if let Some(h) = err.downcast_ref::<HttpError>() {
                    final_transport =
                        matches!(h.kind(), HttpErrorKind::Decode | HttpErrorKind::Unknown);
                    break;
                }
                next = err.source();
            }
            if final_transport {
                Error::storage(uri, e)
            } else {
                Error::transient(uri, e)
            }
        }
        other => Error::storage(uri, other),
    }
}

/// A stored document and the version it was read at.
struct Fetched {
    doc: MosaicJson,
    size: u64,
    version: UpdateVersion,
}

async fn fetch(
    uri: &str,
    store: &dyn ObjectStore,
    path: &StorePath,
    max_bytes: u64,
) -> Result<Fetched> {
    use futures::StreamExt;
    let got = store.get(path).await.map_err(|e| store_error(uri, e))?;
    let version = UpdateVersion {
        e_tag: got.meta.e_tag.clone(),
        version: got.meta.version.clone(),
    };
    let too_large = |n: u64| Error::LimitExceeded {
        what: format!("the document at {uri} ({n} bytes or more)"),
        limit: max_bytes,
        setting: "MOSAIC_MAX_DOCUMENT_BYTES",
        detail: None,
    };
    if got.meta.size > max_bytes {
        return Err(too_large(got.meta.size));
    }
    // Stream with a running total: a length the server did not announce is bounded too.
    let mut stream = got.into_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| store_error(uri, e))?;
        if (bytes.len() + chunk.len()) as u64 > max_bytes {
            return Err(too_large((bytes.len() + chunk.len()) as u64));
        }
        bytes.extend_from_slice(&chunk);
    }
    let size = bytes.len() as u64;
    let doc = run_blocking("parse", move || {
        MosaicJson::from_slice_limited(&bytes, max_bytes)
    })
    .await
    .map_err(|e| match e {
        Error::InvalidMosaic { field, reason } => Error::InvalidMosaic {
            field,
            reason: format!("{uri}: {reason}"),
        },
        other => other,
    })?;
    Ok(Fetched { doc, size, version })
}

/// Reads and indexes the document at `uri` (S3, GCS, Azure Blob or HTTP) from `stores`.
pub async fn open(
    uri: &str,
    parsed: &MosaicUri,
    stores: &Stores,
    opts: &OpenOptions,
) -> Result<DocumentBackend> {
    let (store, path) = stores.resolve(uri, parsed)?;
    let f = fetch(uri, store.as_ref(), &path, opts.max_document_bytes).await?;
    DocumentBackend::new(uri, super::backend_name(parsed), f.doc, f.size)
}

/// Writes mosaic documents to an object store (S3, GCS, Azure Blob).
#[derive(Debug)]
pub struct StoreWriter {
    uri: String,
    store: Arc<dyn ObjectStore>,
    path: StorePath,
}

impl StoreWriter {
    /// A writer for `uri`, in its store from `stores`.
    pub fn new(uri: &str, parsed: &MosaicUri, stores: &Stores) -> Result<StoreWriter> {
        let (store, path) = stores.resolve(uri, parsed)?;
        Ok(StoreWriter {
            uri: uri.to_string(),
            store,
            path,
        })
    }

    async fn put(
        &self,
        doc: &MosaicJson,
        mode: PutMode,
    ) -> std::result::Result<(), object_store::Error> {
        let bytes = doc.to_bytes_for(self.path.as_ref());
        let opts = PutOptions {
            mode,
            ..Default::default()
        };
        self.store
            .put_opts(&self.path, PutPayload::from(bytes), opts)
            .await
            .map(|_| ())
    }
}

#[async_trait]
impl MosaicWrite for StoreWriter {
    fn uri(&self) -> &str {
        &self.uri
    }

    async fn write(&self, doc: &MosaicJson, mode: WriteMode) -> Result<()> {
        match mode {
            WriteMode::Overwrite => self
                .put(doc, PutMode::Overwrite)
                .await
                .map_err(|e| store_error(&self.uri, e)),
            WriteMode::Create => {
                // A HEAD first: a typed refusal even where a store (or an emulator) ignores the
                // precondition; the conditional put below keeps the race itself safe.
                match self.store.head(&self.path).await {
                    Ok(_) => {
                        return Err(Error::AlreadyExists {
                            uri: self.uri.clone(),
                        });
                    }
                    Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(store_error(&self.uri, e)),
                }
                self.create(doc).await
            }
        }
    }

    async fn update(&self, footprints: &[Footprint], opts: &UpdateOptions) -> Result<MosaicJson> {
        self.update_with_retry(footprints, opts).await
    }

    async fn delete(&self) -> Result<()> {
        // Stores answer deletes of missing objects with success: check first for a typed NotFound.
        self.store
            .head(&self.path)
            .await
            .map_err(|e| store_error(&self.uri, e))?;
        self.store
            .delete(&self.path)
            .await
            .map_err(|e| store_error(&self.uri, e))
    }
}

impl StoreWriter {
    async fn create(&self, doc: &MosaicJson) -> Result<()> {
        match self.put(doc, PutMode::Create).await {
            Ok(()) => Ok(()),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Err(Error::AlreadyExists {
                uri: self.uri.clone(),
            }),
            Err(object_store::Error::NotImplemented { .. }) => {
                // No conditional create on this store: check, then write (not atomic).
                match self.store.head(&self.path).await {
                    Ok(_) => Err(Error::AlreadyExists {
                        uri: self.uri.clone(),
                    }),
                    Err(object_store::Error::NotFound { .. }) => self
                        .put(doc, PutMode::Overwrite)
                        .await
                        .map_err(|e| store_error(&self.uri, e)),
                    Err(e) => Err(store_error(&self.uri, e)),
                }
            }
            Err(e) => Err(store_error(&self.uri, e)),
        }
    }

    async fn update_with_retry(
        &self,
        footprints: &[Footprint],
        opts: &UpdateOptions,
    ) -> Result<MosaicJson> {
        for attempt in 0..UPDATE_ATTEMPTS {
            let Fetched {
                mut doc, version, ..
            } = fetch(&self.uri, self.store.as_ref(), &self.path, u64::MAX).await?;
            let (fps, o) = (footprints.to_vec(), opts.clone());
            doc = run_blocking("update", move || doc.update(&fps, &o).map(|_| doc)).await?;
            match self.put(&doc, PutMode::Update(version)).await {
                Ok(()) => return Ok(doc),
                Err(object_store::Error::Precondition { .. }) => {
                    // Another writer got there first: re-read and re-apply.
                    tracing::debug!("{}: update conflict, retry {}", self.uri, attempt + 1);
                    tokio::time::sleep(Duration::from_millis(20 << attempt.min(5))).await;
                }
                Err(object_store::Error::NotImplemented { .. }) => {
                    return Err(Error::storage(
                        self.uri.clone(),
                        "the store cannot update conditionally (If-Match); refusing a write that could lose a concurrent update",
                    ));
                }
                Err(e) => return Err(store_error(&self.uri, e)),
            }
        }
        Err(Error::transient(
            self.uri.clone(),
            format!("gave up after {UPDATE_ATTEMPTS} concurrent-update conflicts"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;

    use super::*;
    use crate::backend::Backends;
    use crate::settings::Settings;

    const DOC: &[u8] = br#"{"mosaicjson":"0.0.3","minzoom":1,"maxzoom":2,"tiles":{"0":["a.tif"]}}"#;

    /// Serves `status` to every request on loopback; returns the base URL.
    async fn answering(status: u16) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = conn.read(&mut buf).await;
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                    let _ = conn.write_all(reply.as_bytes()).await;
                });
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn server_failures_are_retryable_and_missing_documents_permanent() {
        let backends = Backends::new(&Settings::default());
        let unavailable = format!("{}/m.json", answering(503).await);
        let e = backends.open(&unavailable).await.unwrap_err();
        assert!(matches!(e, Error::Storage { .. }), "{e:?}");
        assert!(e.retryable(), "{e:?}");
        assert_eq!(e.lambda_error_type(), "Retryable.Storage");
        // The store's answer is kept as the error's source.
        assert!(std::error::Error::source(&e).is_some());

        let missing = format!("{}/m.json", answering(404).await);
        let e = backends.open(&missing).await.unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
        assert!(!e.retryable());
        assert_eq!(e.lambda_error_type(), "Permanent.NotFound");
    }

    #[tokio::test]
    async fn a_lost_conditional_write_is_retryable_and_refused_credentials_permanent() {
        let store = InMemory::new();
        let path = StorePath::from("m.json");
        store.put(&path, DOC.to_vec().into()).await.unwrap();
        let stale = PutOptions {
            mode: PutMode::Update(UpdateVersion {
                e_tag: Some("not-the-current-etag".into()),
                version: None,
            }),
            ..Default::default()
        };
        let lost = store
            .put_opts(&path, DOC.to_vec().into(), stale)
            .await
            .unwrap_err();
        let e = store_error("s3://b/m.json", lost);
        assert!(e.retryable(), "{e:?}");

        let refused = object_store::Error::PermissionDenied {
            path: "m.json".into(),
            source: "403 Forbidden".into(),
        };
        let e = store_error("s3://b/m.json", refused);
        assert!(matches!(e, Error::Auth { .. }) && !e.retryable(), "{e:?}");
        assert_eq!(e.lambda_error_type(), "Permanent.Auth");
    }

    /// No credentials anywhere is an authorization failure (exit 77) in one line, not the
    /// instance metadata service's HTTP error as a retryable storage error; a broken profile
    /// (another failure of the SDK's chain) is an authorization failure too. The process's
    /// own chain is driven by the CLI tests (`tests/tests/error_messages.rs`, `cli.rs`).
    #[cfg(feature = "s3")]
    #[test]
    fn credential_failures_are_auth_errors() {
        use aws_credential_types::provider::error::CredentialsError;
        let generic = |source: crate::error::BoxError| object_store::Error::Generic {
            store: "S3",
            source,
        };
        let missing = crate::error::NoAwsCredentials::new(
            crate::backend::aws_credentials::TRIED,
            Some(Box::new(CredentialsError::not_loaded(
                "no providers in chain",
            ))),
        );
        let e = store_error("s3://nobucket/x.json", generic(Box::new(missing)));
        let text = e.to_string();
        assert!(matches!(e, Error::Auth { .. }), "{e:?}");
        assert_eq!((e.exit_code(), e.http_status()), (77, 403), "{text}");
        assert!(!e.retryable(), "{text}");
        assert_eq!(
            text,
            "not authorized to access s3://nobucket/x.json: no AWS credentials found (tried env, profile, instance metadata)"
        );
        // The object store's error stays in the chain.
        let source = std::error::Error::source(&e).unwrap();
        assert!(std::error::Error::source(source).is_some(), "{e:?}");

        let broken = CredentialsError::invalid_configuration("profile `x` is not defined");
        let e = store_error("s3://b/m.json", generic(Box::new(broken)));
        assert!(matches!(e, Error::Auth { .. }) && !e.retryable(), "{e:?}");
    }

    /// Keys in the configuration are object_store's own static credentials: a request goes
    /// out (here to a closed port: a storage error), the SDK's chain is not asked.
    #[cfg(feature = "s3")]
    #[tokio::test]
    async fn configured_keys_are_used_as_they_are() {
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", l.local_addr().unwrap())
        };
        let keyed = Settings::from_pairs([
            ("AWS_ACCESS_KEY_ID", "k"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("AWS_ENDPOINT_URL", closed.as_str()),
            ("AWS_ALLOW_HTTP", "true"),
        ]);
        let e = Backends::new(&keyed)
            .open("s3://nobucket/x.json")
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Storage { .. }), "{e:?}");
    }

    #[tokio::test]
    async fn an_injected_store_serves_reads_and_writes() {
        let memory = Arc::new(InMemory::new());
        let stores = Stores::default().with_store("s3://bucket", memory.clone());
        let backends = Backends::new(&Settings::default()).with_stores(stores);
        let doc = MosaicJson::from_slice_limited(DOC, u64::MAX).unwrap();
        backends
            .open_writer("s3://bucket/m.json")
            .unwrap()
            .write(&doc, WriteMode::Create)
            .await
            .unwrap();
        // Written to the injected store, read back through it: no network, no credentials.
        assert!(memory.head(&StorePath::from("m.json")).await.is_ok());
        let read = backends.open("s3://bucket/m.json").await.unwrap();
        assert_eq!(read.document().tiles["0"], ["a.tif"]);
        assert!(matches!(
            backends.open("s3://bucket/other.json").await,
            Err(Error::NotFound { .. })
        ));
    }
}
