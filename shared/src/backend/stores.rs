//! The object stores of one process: built from [`Settings`] on first use, one per bucket
//! (or container, or HTTP host) and then shared, or injected.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use object_store::path::Path as StorePath;
use object_store::{ClientOptions, ObjectStore};

use super::MosaicUri;
use crate::settings::Settings;
use crate::{Error, Result};

/// Object stores for `s3://`, `gs://`, `az://` and `http(s)://` mosaics.
///
/// Credentials and endpoints come from each cloud's standard variables in [`Settings`]
/// (`AWS_*`, `GOOGLE_*`, `AZURE_*`), applied as object_store's own `from_env` builders
/// apply them. A store is built once per bucket and reused, so its connection pool is too.
#[derive(Debug, Clone, Default)]
pub struct Stores {
    #[cfg_attr(
        not(any(feature = "s3", feature = "gcs", feature = "azure")),
        allow(dead_code)
    )]
    settings: Settings,
    http_proxy: Option<String>,
    stores: Arc<Mutex<HashMap<String, Arc<dyn ObjectStore>>>>,
}

impl Stores {
    /// Stores configured by `settings`.
    pub fn new(settings: Settings) -> Stores {
        Stores {
            settings,
            ..Default::default()
        }
    }

    /// These stores sending every HTTP(S) request through `proxy` (the tiler's egress gate).
    pub fn with_proxy(mut self, proxy: Option<String>) -> Stores {
        self.http_proxy = proxy;
        self
    }

    /// These stores answering the URIs under `base` (`s3://bucket`, `gs://bucket`,
    /// `az://account/container`, `https://host`) from `store`: tests and embedders inject
    /// in-memory or instrumented stores this way.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use mosaic::backend::stores::Stores;
    /// let stores = Stores::default()
    ///     .with_store("s3://bucket", Arc::new(object_store::memory::InMemory::new()));
    /// # let _ = stores;
    /// ```
    pub fn with_store(self, base: &str, store: Arc<dyn ObjectStore>) -> Stores {
        self.lock()
            .insert(base.trim_end_matches('/').to_string(), store);
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<dyn ObjectStore>>> {
        self.stores.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The store and the object's path for a parsed URI.
    pub fn resolve(
        &self,
        uri: &str,
        parsed: &MosaicUri,
    ) -> Result<(Arc<dyn ObjectStore>, StorePath)> {
        let (base, key) = split(uri, parsed)?;
        let path = match parsed {
            // Keep an HTTP path as given (percent-decoded by object_store on the way out).
            MosaicUri::Http(_) => StorePath::from_url_path(key),
            _ => StorePath::parse(key),
        }
        .map_err(|e| Error::InvalidUri {
            uri: uri.to_string(),
            reason: e.to_string(),
        })?;
        if let Some(store) = self.lock().get(&base) {
            return Ok((store.clone(), path));
        }
        let store = self.build(uri, parsed)?;
        let store = self.lock().entry(base).or_insert(store).clone();
        Ok((store, path))
    }

    fn build(&self, uri: &str, parsed: &MosaicUri) -> Result<Arc<dyn ObjectStore>> {
        let bad = |e: object_store::Error| Error::InvalidUri {
            uri: uri.to_string(),
            reason: e.to_string(),
        };
        match parsed {
            #[cfg(feature = "s3")]
            MosaicUri::S3 { bucket, .. } => {
                let s = &self.settings;
                use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
                let mut b = AmazonS3Builder::new();
                for (k, v) in s.with_prefix("AWS_") {
                    if let Ok(key) = k.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
                        b = b.with_config(key, v);
                    }
                }
                let endpoint = s
                    .get("AWS_ENDPOINT_URL_S3")
                    .or_else(|| s.get("AWS_ENDPOINT_URL"));
                b = b.with_bucket_name(bucket).with_client_options(
                    self.client_options(endpoint.is_some_and(|e| e.starts_with("http://"))),
                );
                if let Some(ep) = endpoint {
                    b = b.with_endpoint(ep);
                }
                if s.get("AWS_REGION").is_none() && s.get("AWS_DEFAULT_REGION").is_none() {
                    b = b.with_region("us-east-1");
                }
                let mut b = b.with_retry(retry());
                // Nothing configured names credentials: the AWS SDK's chain (profiles too),
                // as for DynamoDB, not object_store's instance-metadata-only fallback.
                if !super::aws_credentials::names_credentials(&b) {
                    b = b.with_credentials(Arc::new(
                        super::aws_credentials::SdkCredentials::default(),
                    ));
                }
                Ok(Arc::new(b.build().map_err(bad)?))
            }
            #[cfg(feature = "gcs")]
            MosaicUri::Gcs { bucket, .. } => {
                let s = &self.settings;
                use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
                let mut b = GoogleCloudStorageBuilder::new();
                if let Some(path) = s.get("SERVICE_ACCOUNT") {
                    b = b.with_service_account_path(path);
                }
                for (k, v) in s.with_prefix("GOOGLE_") {
                    if let Ok(key) = k.to_ascii_lowercase().parse::<GoogleConfigKey>() {
                        b = b.with_config(key, v);
                    }
                }
                // An emulator's key file points at a plain-HTTP endpoint.
                let http = s
                    .get("GOOGLE_SERVICE_ACCOUNT_KEY")
                    .is_some_and(|k| k.contains("http://"));
                let b = b
                    .with_bucket_name(bucket)
                    .with_client_options(self.client_options(http))
                    .with_retry(retry());
                Ok(Arc::new(b.build().map_err(bad)?))
            }
            #[cfg(feature = "azure")]
            MosaicUri::Azure {
                account, container, ..
            } => {
                let s = &self.settings;
                use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
                let mut b = MicrosoftAzureBuilder::new();
                for (k, v) in s.with_prefix("AZURE_") {
                    if let Ok(key) = k.to_ascii_lowercase().parse::<AzureConfigKey>() {
                        b = b.with_config(key, v);
                    }
                }
                b = b.with_container_name(container);
                let emulator = s
                    .get("AZURE_STORAGE_USE_EMULATOR")
                    .and_then(crate::cache::parse_bool)
                    .unwrap_or(false);
                let mut http = emulator;
                if !emulator {
                    b = b.with_account(account);
                    if let Some(cs) = s.get("AZURE_STORAGE_CONNECTION_STRING") {
                        let cs = connection_string(cs);
                        if let Some(k) = cs.get("AccountKey") {
                            b = b.with_access_key(*k);
                        }
                        if let Some(ep) = cs.get("BlobEndpoint") {
                            http = ep.starts_with("http://");
                            b = b.with_endpoint(ep.trim_end_matches('/').to_string());
                        }
                    }
                }
                let b = b
                    .with_client_options(self.client_options(http))
                    .with_retry(retry());
                Ok(Arc::new(b.build().map_err(bad)?))
            }
            #[cfg(feature = "http")]
            MosaicUri::Http(url) => {
                let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
                let host = rest.split_once('/').map_or(rest, |(h, _)| h);
                let store = object_store::http::HttpBuilder::new()
                    .with_url(format!("{scheme}://{host}"))
                    .with_client_options(self.client_options(scheme == "http"))
                    .with_retry(retry())
                    .build()
                    .map_err(bad)?;
                Ok(Arc::new(store))
            }
            other => Err(super::dispatch::unsupported(other)),
        }
    }

    fn client_options(&self, allow_http: bool) -> ClientOptions {
        let o = ClientOptions::new()
            .with_allow_http(allow_http)
            .with_timeout(Duration::from_secs(30))
            .with_connect_timeout(Duration::from_secs(5));
        match &self.http_proxy {
            Some(proxy) => o.with_proxy_url(proxy),
            None => o,
        }
    }
}

/// The store a URI is in (`s3://bucket`, `https://host` …) and the key inside it.
fn split<'a>(uri: &str, parsed: &'a MosaicUri) -> Result<(String, &'a str)> {
    match parsed {
        MosaicUri::S3 { bucket, key } => Ok((format!("s3://{bucket}"), key)),
        MosaicUri::Gcs { bucket, key } => Ok((format!("gs://{bucket}"), key)),
        MosaicUri::Azure {
            account,
            container,
            key,
            ..
        } => Ok((format!("az://{account}/{container}"), key)),
        MosaicUri::Http(url) => {
            let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
            match rest.split_once('/') {
                Some((host, key)) if !key.is_empty() => Ok((format!("{scheme}://{host}"), key)),
                _ => Err(Error::InvalidUri {
                    uri: uri.to_string(),
                    reason: "missing path".into(),
                }),
            }
        }
        other => Err(super::dispatch::unsupported(other)),
    }
}

/// Few, short retries: a dead endpoint must fail a request in seconds, not minutes.
fn retry() -> object_store::RetryConfig {
    object_store::RetryConfig {
        max_retries: 2,
        retry_timeout: Duration::from_secs(15),
        ..Default::default()
    }
}

/// The `Key=Value;...` pairs of an Azure connection string.
#[cfg(feature = "azure")]
fn connection_string(text: &str) -> HashMap<&str, &str> {
    text.split(';')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect()
}
