//! DynamoDB (`dynamodb://[{region}]/{table}:{mosaic}`): cogeo-mosaic's storage layout, read one
//! request per tile look-up, written in 25-item batches, edited per quadkey atomically.
//!
//! # Layout (identical to cogeo-mosaic, so either side reads the other's mosaics)
//!
//! One table holds many mosaics: partition key `mosaicId` (S), sort key `quadkey` (S).
//!
//! | item | attributes |
//! |---|---|
//! | metadata | `mosaicId`, `quadkey = "-1"`, every MosaicJSON field but `tiles` (absent ones `NULL`, numbers `N`, the TMS a map) |
//! | one per quadkey | `mosaicId`, `quadkey`, `assets` (list of strings) |
//!
//! # Requests
//!
//! - a tile at or above `quadkey_zoom`: one `GetItem` (its ancestor's key); below it: one
//!   `Query` with `begins_with(quadkey, prefix)` (plus pages), never 4^(qz−z) `GetItem`s.
//!   A bbox: one `BatchGetItem` per 100 keys.
//! - write: `CreateTable` when missing (on-demand billing), the tile items in `BatchWriteItem`s
//!   of 25 (unprocessed items retried with backoff), the metadata item **last**, so a reader
//!   never finds a half-written mosaic complete.
//! - per-quadkey edits ([`TileIndex`]): one conditional `UpdateItem` that appends only assets
//!   the list does not hold yet (retried with the missing ones when another writer got
//!   there first); removals compare-and-swap the list. The metadata version is bumped with a
//!   condition on the version read, retried on conflict.
//!
//! DynamoDB items are limited to 400 KB: a quadkey whose asset list would pass it is refused
//! with [`Error::ItemTooLarge`] before anything is written.
//!
//! The endpoint comes from the standard AWS configuration (`AWS_ENDPOINT_URL_DYNAMODB`,
//! `AWS_ENDPOINT_URL`, profiles); the region from the URI, else `AWS_REGION`, else `us-east-1`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, Region, RuntimeComponents};
use aws_sdk_dynamodb::error::{BoxError, DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, DeleteRequest, KeySchemaElement, KeyType,
    KeysAndAttributes, PutRequest, ScalarAttributeType, TableStatus, WriteRequest,
};
use futures::{StreamExt, TryStreamExt};
use serde_json::{Map, Number, Value};
use tokio::sync::OnceCell;

use super::{MosaicRead, MosaicWrite, Position, TileIndex, WriteMode};
use crate::create::{Footprint, UpdateOptions};
use crate::error::run_blocking;
use crate::index::{self, Lookup, LookupOptions, QuadkeyQuery};
use crate::mosaicjson::MosaicJson;
use crate::{Error, Result};

/// The sort key of the metadata item.
pub const METADATA_QUADKEY: &str = "-1";
/// The sort key of the write lease item (present only while a write or delete runs).
pub const LEASE_QUADKEY: &str = "-2";
/// How long a write lease lasts when its writer dies without giving it back.
const LEASE_SECONDS: u64 = 300;
/// DynamoDB's item size limit, in bytes.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
/// Items per `BatchWriteItem` (the API's maximum).
const WRITE_BATCH: usize = 25;
/// Keys per `BatchGetItem` (the API's maximum).
const GET_BATCH: usize = 100;
/// Above this many keys, a bbox is read by prefix `Query`s instead of `BatchGetItem`s.
const MAX_PREFIX_QUERIES: usize = 16;
/// Prefix `Query`s are used only when their ancestors cover at most this many times the
/// bbox's keys.
const PREFIX_AMPLIFICATION: usize = 4;
/// `BatchWriteItem` calls in flight at once.
const WRITE_CONCURRENCY: usize = 8;
/// Assets per conditional append (keeps the condition expression well under 4 KB).
const APPEND_CHUNK: usize = 50;
/// Attempts for unprocessed batch items and conflicting conditional writes.
const MAX_ATTEMPTS: u32 = 60;

/// A tile item read back: quadkey and assets.
type TileItem = (String, Vec<String>);

/// Requests sent to DynamoDB by one client, per operation (`GetItem`, `Query`, ...),
/// counted per HTTP attempt, so retries show.
#[derive(Debug, Default)]
pub struct RequestStats {
    counts: Mutex<BTreeMap<String, u64>>,
}

impl RequestStats {
    /// Requests of operation `op` so far.
    pub fn count(&self, op: &str) -> u64 {
        self.lock().get(op).copied().unwrap_or(0)
    }

    /// All requests so far.
    pub fn total(&self) -> u64 {
        self.lock().values().sum()
    }

    /// Counts per operation.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.lock().clone()
    }

    /// Starts counting from zero.
    pub fn reset(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, u64>> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Counts every request the SDK transmits, keyed by the `X-Amz-Target` operation.
#[derive(Debug)]
struct CountRequests(Arc<RequestStats>);

impl Intercept for CountRequests {
    fn name(&self) -> &'static str {
        "CountRequests"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        let op = context
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("unknown")
            .to_string();
        *self.0.lock().entry(op).or_insert(0) += 1;
        Ok(())
    }
}

/// The region of a URI: its own, else `AWS_REGION`, else `us-east-1` (as cogeo-mosaic).
fn resolve_region(region: Option<&str>) -> String {
    region
        .map(str::to_string)
        .or_else(|| std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()))
        .unwrap_or_else(|| "us-east-1".to_string())
}

/// The loaded AWS configuration of each region (credentials provider, HTTP client and its
/// connection pool), shared by every mosaic of the process: bounded, and reloaded after an
/// hour so rotated settings are picked up.
fn sdk_configs() -> &'static moka::future::Cache<String, aws_config::SdkConfig> {
    static CONFIGS: std::sync::OnceLock<moka::future::Cache<String, aws_config::SdkConfig>> =
        std::sync::OnceLock::new();
    CONFIGS.get_or_init(|| {
        moka::future::Cache::builder()
            .max_capacity(32)
            .time_to_live(Duration::from_secs(3600))
            .build()
    })
}

/// A client from the standard AWS configuration chain, counting its requests into `stats`.
async fn connect(region: &str, stats: Arc<RequestStats>) -> Client {
    let sdk = sdk_configs()
        .get_with(region.to_string(), async {
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(Region::new(region.to_string()))
                .load()
                .await
        })
        .await;
    let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .interceptor(CountRequests(stats))
        .build();
    Client::from_conf(conf)
}

/// One mosaic in one DynamoDB table: the writer, the per-quadkey [`TileIndex`], and the
/// connection a [`DynamoDbBackend`] reads through. The client is built on first use.
#[derive(Debug, Clone)]
pub struct DynamoDbMosaic {
    uri: String,
    region: String,
    table: String,
    mosaic: String,
    client: Arc<OnceCell<Client>>,
    stats: Arc<RequestStats>,
}

impl DynamoDbMosaic {
    /// The mosaic `mosaic` of `table` (`region`: from the URI, if it has one).
    ///
    /// ```
    /// let m = mosaic::backend::dynamodb::DynamoDbMosaic::new("dynamodb:///t:m", None, "t", "m");
    /// assert_eq!(m.table(), "t");
    /// ```
    pub fn new(uri: &str, region: Option<&str>, table: &str, mosaic: &str) -> DynamoDbMosaic {
        DynamoDbMosaic {
            uri: uri.to_string(),
            region: resolve_region(region),
            table: table.to_string(),
            mosaic: mosaic.to_string(),
            client: Arc::new(OnceCell::new()),
            stats: Arc::new(RequestStats::default()),
        }
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The mosaic id inside the table.
    pub fn mosaic(&self) -> &str {
        &self.mosaic
    }

    /// The region requests go to.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Requests sent so far by this mosaic's client.
    pub fn stats(&self) -> &RequestStats {
        &self.stats
    }

    async fn client(&self) -> &Client {
        self.client
            .get_or_init(|| connect(&self.region, self.stats.clone()))
            .await
    }

    fn key(&self, quadkey: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (
                "mosaicId".to_string(),
                AttributeValue::S(self.mosaic.clone()),
            ),
            (
                "quadkey".to_string(),
                AttributeValue::S(quadkey.to_string()),
            ),
        ])
    }

    /// Maps an SDK failure to the crate's error ([`sdk_error`]).
    fn sdk_error<E>(&self, e: SdkError<E>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        sdk_error(&self.uri, &self.table, e)
    }

    /// The outcome of a conditional write: `Ok(None)` when its condition failed (another
    /// writer changed the item first).
    fn unless_conflict<T, E>(&self, sent: std::result::Result<T, SdkError<E>>) -> Result<Option<T>>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match sent {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(None),
            Err(e) => Err(self.sdk_error(e)),
        }
    }

    /// The metadata item as a document with empty `tiles`; `None` when the mosaic is absent.
    async fn fetch_metadata(&self, consistent: bool) -> Result<Option<MosaicJson>> {
        let out = self
            .client()
            .await
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.key(METADATA_QUADKEY)))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(|e| self.sdk_error(e))?;
        let Some(mut item) = out.item else {
            return Ok(None);
        };
        item.remove("mosaicId");
        item.remove("quadkey");
        let mut meta = Map::new();
        for (k, v) in item {
            let value = from_attribute(v).map_err(|reason| Error::InvalidMosaic {
                field: Some(k.clone()),
                reason: format!("metadata item of {}: {reason}", self.uri),
            })?;
            meta.insert(k, value);
        }
        MosaicJson::from_metadata(meta)
            .map(Some)
            .map_err(|e| match e {
                Error::InvalidMosaic { field, reason } => Error::InvalidMosaic {
                    field,
                    reason: format!("metadata item of {}: {reason}", self.uri),
                },
                other => other,
            })
    }

    /// The metadata, or [`Error::NotFound`].
    pub async fn read_metadata(&self) -> Result<MosaicJson> {
        self.fetch_metadata(true)
            .await?
            .ok_or_else(|| Error::NotFound {
                uri: self.uri.clone(),
            })
    }

    /// Opens the mosaic for reading (one `GetItem` for the metadata).
    pub async fn open(self) -> Result<DynamoDbBackend> {
        let doc = self
            .fetch_metadata(false)
            .await?
            .ok_or_else(|| Error::NotFound {
                uri: self.uri.clone(),
            })?;
        Ok(DynamoDbBackend {
            doc: Arc::new(doc),
            mosaic: self,
        })
    }

    /// The assets of one quadkey (empty when the item is absent).
    async fn get_assets(&self, quadkey: &str, consistent: bool) -> Result<Vec<String>> {
        let out = self
            .client()
            .await
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.key(quadkey)))
            .projection_expression("#a")
            .expression_attribute_names("#a", "assets")
            .consistent_read(consistent)
            .send()
            .await
            .map_err(|e| self.sdk_error(e))?;
        match out.item {
            Some(item) => self.assets_of(quadkey, item),
            None => Ok(Vec::new()),
        }
    }

    fn assets_of(
        &self,
        quadkey: &str,
        mut item: HashMap<String, AttributeValue>,
    ) -> Result<Vec<String>> {
        match item.remove("assets") {
            None => Ok(Vec::new()),
            Some(AttributeValue::L(list)) => list
                .into_iter()
                .map(|v| match v {
                    AttributeValue::S(s) => Ok(s),
                    other => Err(other),
                })
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|v| self.bad_assets(quadkey, &format!("{v:?}"))),
            Some(other) => Err(self.bad_assets(quadkey, &format!("{other:?}"))),
        }
    }

    fn bad_assets(&self, quadkey: &str, found: &str) -> Error {
        Error::InvalidMosaic {
            field: Some("tiles".into()),
            reason: format!(
                "{}: quadkey {quadkey} holds {found}, not a list of strings",
                self.uri
            ),
        }
    }

    /// `(quadkey, assets)` of every quadkey starting with `prefix`, in key order, all pages.
    async fn query_prefix(
        &self,
        prefix: &str,
        with_assets: bool,
    ) -> Result<Vec<(String, Vec<String>)>> {
        let client = self.client().await;
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let mut req = client
                .query()
                .table_name(&self.table)
                .expression_attribute_names("#m", "mosaicId")
                .expression_attribute_names("#q", "quadkey")
                .expression_attribute_values(":m", AttributeValue::S(self.mosaic.clone()))
                .set_exclusive_start_key(start.take());
            req = if prefix.is_empty() {
                req.key_condition_expression("#m = :m")
            } else {
                req.key_condition_expression("#m = :m AND begins_with(#q, :p)")
                    .expression_attribute_values(":p", AttributeValue::S(prefix.to_string()))
            };
            req = if with_assets {
                req.projection_expression("#q, #a")
                    .expression_attribute_names("#a", "assets")
            } else {
                req.projection_expression("#q")
            };
            let page = req.send().await.map_err(|e| self.sdk_error(e))?;
            for mut item in page.items.unwrap_or_default() {
                let Some(AttributeValue::S(qk)) = item.remove("quadkey") else {
                    continue;
                };
                // "-1" (metadata) and "-2" (write lease) are not quadkeys.
                if qk.starts_with('-') {
                    continue;
                }
                let assets = if with_assets {
                    self.assets_of(&qk, item)?
                } else {
                    Vec::new()
                };
                out.push((qk, assets));
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }

    /// Assets of many exact quadkeys with `BatchGetItem` (100 keys a call, unprocessed keys
    /// retried). Absent quadkeys are absent from the map.
    async fn batch_get(&self, quadkeys: &[String]) -> Result<HashMap<String, Vec<String>>> {
        let client = self.client().await;
        let mut found = HashMap::new();
        for chunk in quadkeys.chunks(GET_BATCH) {
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.iter().map(|qk| self.key(qk)).collect()))
                    .projection_expression("#q, #a")
                    .expression_attribute_names("#q", "quadkey")
                    .expression_attribute_names("#a", "assets")
                    .build()
                    .map_err(|e| Error::Internal(e.to_string()))?,
            );
            let mut attempt = 0;
            while let Some(keys) = pending.take() {
                let out = client
                    .batch_get_item()
                    .request_items(&self.table, keys)
                    .send()
                    .await
                    .map_err(|e| self.sdk_error(e))?;
                for mut item in out
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default()
                {
                    if let Some(AttributeValue::S(qk)) = item.remove("quadkey") {
                        let assets = self.assets_of(&qk, item)?;
                        found.insert(qk, assets);
                    }
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys.is_empty());
                if pending.is_some() {
                    attempt += 1;
                    self.backoff(attempt, "BatchGetItem").await?;
                }
            }
        }
        Ok(found)
    }

    /// Assets of many exact quadkeys by a few prefix `Query`s: the keys are grouped under
    /// their ancestors at the deepest zoom with at most [`MAX_PREFIX_QUERIES`] groups. Only
    /// stored items come back, so a large, sparse bbox costs a handful of requests instead
    /// of one `BatchGetItem` per 100 keys.
    async fn read_by_prefixes(&self, quadkeys: &[String]) -> Result<HashMap<String, Vec<String>>> {
        let depth = quadkeys.iter().map(String::len).min().unwrap_or(0);
        let mut prefixes: Vec<String> = vec![String::new()];
        for z in 1..=depth {
            let level: std::collections::BTreeSet<&str> =
                quadkeys.iter().map(|k| &k[..z]).collect();
            if level.len() > MAX_PREFIX_QUERIES {
                break;
            }
            prefixes = level.into_iter().map(str::to_string).collect();
        }
        // A thin strip's ancestors cover far more keys than it has: batch reads then.
        let covered = prefixes.len() as f64 * 4f64.powi((depth - prefixes[0].len()) as i32);
        if covered > (PREFIX_AMPLIFICATION * quadkeys.len()) as f64 {
            return self.batch_get(quadkeys).await;
        }
        let wanted: HashSet<&str> = quadkeys.iter().map(String::as_str).collect();
        let mut queries: Vec<futures::future::BoxFuture<'_, Result<Vec<TileItem>>>> =
            Vec::with_capacity(prefixes.len());
        for p in prefixes {
            queries.push(Box::pin(async move { self.query_prefix(&p, true).await }));
        }
        let pages: Vec<Vec<TileItem>> = futures::stream::iter(queries)
            .buffer_unordered(MAX_PREFIX_QUERIES)
            .try_collect()
            .await?;
        Ok(pages
            .into_iter()
            .flatten()
            .filter(|(qk, _)| wanted.contains(qk.as_str()))
            .collect())
    }

    /// Sleeps before retry `attempt` (exponential, jittered, capped); fails past the limit.
    async fn backoff(&self, attempt: u32, what: &str) -> Result<()> {
        if attempt > MAX_ATTEMPTS {
            return Err(Error::transient(
                self.uri.clone(),
                format!("{what} still conflicting or throttled after {MAX_ATTEMPTS} attempts"),
            ));
        }
        let base = 10u64 << attempt.min(8);
        let jitter = u64::from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0),
        ) % base.max(1);
        tokio::time::sleep(Duration::from_millis((base / 2 + jitter).min(1_000))).await;
        Ok(())
    }

    /// Sends `requests` in `BatchWriteItem`s of 25, several in flight, retrying unprocessed
    /// items with backoff.
    async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<()> {
        let batches: Vec<Vec<WriteRequest>> = requests
            .chunks(WRITE_BATCH)
            .map(<[WriteRequest]>::to_vec)
            .collect();
        futures::stream::iter(batches.into_iter().map(|b| self.write_batch(b)))
            .buffer_unordered(WRITE_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await
            .map(|_| ())
    }

    async fn write_batch(&self, batch: Vec<WriteRequest>) -> Result<()> {
        let client = self.client().await;
        let mut pending = batch;
        let mut attempt = 0;
        while !pending.is_empty() {
            let out = client
                .batch_write_item()
                .request_items(&self.table, pending)
                .send()
                .await
                .map_err(|e| self.sdk_error(e))?;
            pending = out
                .unprocessed_items
                .and_then(|mut u| u.remove(&self.table))
                .unwrap_or_default();
            if !pending.is_empty() {
                attempt += 1;
                self.backoff(attempt, "BatchWriteItem").await?;
            }
        }
        Ok(())
    }

    /// Creates the table (on-demand billing) when it does not exist and waits until active.
    async fn ensure_table(&self) -> Result<()> {
        let client = self.client().await;
        let status = match client.describe_table().table_name(&self.table).send().await {
            Ok(out) => out.table.and_then(|t| t.table_status),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                tracing::info!("creating DynamoDB table {}", self.table);
                let created = client
                    .create_table()
                    .table_name(&self.table)
                    .billing_mode(BillingMode::PayPerRequest)
                    .attribute_definitions(attribute("mosaicId")?)
                    .attribute_definitions(attribute("quadkey")?)
                    .key_schema(key_schema("mosaicId", KeyType::Hash)?)
                    .key_schema(key_schema("quadkey", KeyType::Range)?)
                    .send()
                    .await;
                match created {
                    Ok(out) => out.table_description.and_then(|t| t.table_status),
                    // Another writer created it meanwhile.
                    Err(e) if e.code() == Some("ResourceInUseException") => None,
                    Err(e) => return Err(self.sdk_error(e)),
                }
            }
            Err(e) => return Err(self.sdk_error(e)),
        };
        if status == Some(TableStatus::Active) {
            return Ok(());
        }
        for attempt in 1..=MAX_ATTEMPTS {
            let out = client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(|e| self.sdk_error(e))?;
            if out.table.and_then(|t| t.table_status) == Some(TableStatus::Active) {
                return Ok(());
            }
            self.backoff(attempt.min(5), "CreateTable").await?;
        }
        Err(Error::transient(
            self.uri.clone(),
            format!("table {} did not become active", self.table),
        ))
    }

    /// The metadata item of `doc`.
    fn metadata_item(&self, doc: &MosaicJson) -> HashMap<String, AttributeValue> {
        let mut item: HashMap<String, AttributeValue> = doc
            .metadata()
            .into_iter()
            .map(|(k, v)| (k, to_attribute(v)))
            .collect();
        item.extend(self.key(METADATA_QUADKEY));
        item
    }

    fn tile_item(
        &self,
        quadkey: &str,
        assets: &[String],
    ) -> Result<HashMap<String, AttributeValue>> {
        let bytes = tile_item_size(&self.mosaic, quadkey, assets);
        if bytes > MAX_ITEM_BYTES {
            return Err(Error::ItemTooLarge {
                uri: self.uri.clone(),
                quadkey: quadkey.to_string(),
                bytes: Some(bytes),
            });
        }
        let mut item = self.key(quadkey);
        item.insert(
            "assets".into(),
            AttributeValue::L(assets.iter().cloned().map(AttributeValue::S).collect()),
        );
        Ok(item)
    }

    /// Takes the mosaic's write lease: an item at sort key [`LEASE_QUADKEY`] holding a token
    /// and an expiry, put only if absent or expired. Whole writes and deletes hold it, so two
    /// of them never interleave their items. `wait`: retry with backoff while another
    /// writer holds it; else a held lease is [`Error::AlreadyExists`] (someone is creating
    /// or replacing this mosaic). Returns the token.
    async fn acquire_lease(&self, wait: bool) -> Result<String> {
        let now = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
        };
        let token = format!("{}-{}", std::process::id(), now().as_nanos());
        let mut attempt = 0;
        loop {
            let t = now().as_secs();
            let mut item = self.key(LEASE_QUADKEY);
            item.insert("owner".into(), AttributeValue::S(token.clone()));
            item.insert(
                "expires".into(),
                AttributeValue::N((t + LEASE_SECONDS).to_string()),
            );
            let sent = self
                .client()
                .await
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(#m) OR #e < :now")
                .expression_attribute_names("#m", "mosaicId")
                .expression_attribute_names("#e", "expires")
                .expression_attribute_values(":now", AttributeValue::N(t.to_string()))
                .send()
                .await;
            if self.unless_conflict(sent)?.is_some() {
                return Ok(token);
            }
            if !wait {
                return Err(Error::AlreadyExists {
                    uri: self.uri.clone(),
                });
            }
            attempt += 1;
            self.backoff(attempt, "waiting for another writer of this mosaic")
                .await?;
        }
    }

    /// Gives the lease back (if it is still ours: an expired lease may have been taken).
    async fn release_lease(&self, token: &str) {
        let sent = self
            .client()
            .await
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(self.key(LEASE_QUADKEY)))
            .condition_expression("#o = :token")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":token", AttributeValue::S(token.to_string()))
            .send()
            .await;
        if let Err(e) = self.unless_conflict(sent) {
            // The lease expires by itself; the write's own outcome is what matters.
            tracing::warn!("releasing the write lease of {}: {e}", self.uri);
        }
    }

    /// The body of [`MosaicWrite::write`], under the lease.
    async fn write_leased(
        &self,
        doc: &MosaicJson,
        mode: WriteMode,
        puts: Vec<WriteRequest>,
        metadata: HashMap<String, AttributeValue>,
    ) -> Result<()> {
        let exists = self.fetch_metadata(true).await?.is_some();
        if exists && mode == WriteMode::Create {
            return Err(Error::AlreadyExists {
                uri: self.uri.clone(),
            });
        }
        // Quadkeys the new document does not rewrite go: an overwritten mosaic's, or the
        // orphans of a write that stopped before its metadata item (never complete, so
        // never visible to readers).
        let stale: Vec<String> = self
            .list_quadkeys()
            .await?
            .into_iter()
            .filter(|qk| !doc.tiles.contains_key(qk))
            .collect();
        if exists || !stale.is_empty() {
            self.delete_items(stale).await?;
        }
        self.batch_write(puts).await?;
        let sent = self
            .client()
            .await
            .put_item()
            .table_name(&self.table)
            .set_item(Some(metadata))
            .send()
            .await;
        self.unless_conflict(sent)?;
        Ok(())
    }

    /// Every quadkey of the mosaic (all pages; the metadata item excluded).
    pub async fn list_quadkeys(&self) -> Result<Vec<String>> {
        Ok(self
            .query_prefix("", false)
            .await?
            .into_iter()
            .map(|(qk, _)| qk)
            .collect())
    }

    fn delete_requests(
        &self,
        quadkeys: impl IntoIterator<Item = String>,
    ) -> Result<Vec<WriteRequest>> {
        quadkeys
            .into_iter()
            .map(|qk| {
                Ok(WriteRequest::builder()
                    .delete_request(
                        DeleteRequest::builder()
                            .set_key(Some(self.key(&qk)))
                            .build()
                            .map_err(|e| Error::Internal(e.to_string()))?,
                    )
                    .build())
            })
            .collect()
    }

    /// Deletes the metadata item (the mosaic disappears for readers at once), then `quadkeys`.
    async fn delete_items(&self, quadkeys: Vec<String>) -> Result<()> {
        self.client()
            .await
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(self.key(METADATA_QUADKEY)))
            .send()
            .await
            .map_err(|e| self.sdk_error(e))?;
        self.batch_write(self.delete_requests(quadkeys)?).await
    }

    /// Conditional append of `assets` (none of which may be listed yet) to `quadkey`.
    /// `Ok(false)`: the condition failed, another writer added one of them.
    async fn append_if_absent(
        &self,
        quadkey: &str,
        assets: &[String],
        at: Position,
    ) -> Result<bool> {
        let list = AttributeValue::L(assets.iter().cloned().map(AttributeValue::S).collect());
        let update = match at {
            Position::First => "SET #a = list_append(:new, if_not_exists(#a, :empty))",
            Position::Last => "SET #a = list_append(if_not_exists(#a, :empty), :new)",
        };
        let absent: Vec<String> = (0..assets.len())
            .map(|i| format!("NOT contains(#a, :v{i})"))
            .collect();
        let mut req = self
            .client()
            .await
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.key(quadkey)))
            .update_expression(update)
            .condition_expression(format!(
                "attribute_not_exists(#a) OR ({})",
                absent.join(" AND ")
            ))
            .expression_attribute_names("#a", "assets")
            .expression_attribute_values(":new", list)
            .expression_attribute_values(":empty", AttributeValue::L(Vec::new()));
        for (i, a) in assets.iter().enumerate() {
            req = req.expression_attribute_values(format!(":v{i}"), AttributeValue::S(a.clone()));
        }
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
            // DynamoDB refuses an update that would grow the item past 400 KB with a
            // ValidationException; tell it from other validation failures by the size the
            // item would have, not by the message.
            Err(e) if e.code() == Some("ValidationException") => {
                let mut grown = self.get_assets(quadkey, true).await?;
                grown.extend(assets.iter().cloned());
                let bytes = tile_item_size(&self.mosaic, quadkey, &grown);
                if bytes > MAX_ITEM_BYTES {
                    return Err(Error::ItemTooLarge {
                        uri: self.uri.clone(),
                        quadkey: quadkey.to_string(),
                        bytes: Some(bytes),
                    });
                }
                Err(self.sdk_error(e))
            }
            Err(e) => Err(self.sdk_error(e)),
        }
    }

    /// Replaces the list of `quadkey` by `new` if it still equals `old` (deletes the item
    /// when `new` is empty). `Ok(false)`: it changed meanwhile.
    async fn swap_assets(&self, quadkey: &str, old: &[String], new: &[String]) -> Result<bool> {
        let old_list = AttributeValue::L(old.iter().cloned().map(AttributeValue::S).collect());
        let client = self.client().await;
        let written = if new.is_empty() {
            let sent = client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(self.key(quadkey)))
                .condition_expression("#a = :old")
                .expression_attribute_names("#a", "assets")
                .expression_attribute_values(":old", old_list)
                .send()
                .await;
            self.unless_conflict(sent)?.is_some()
        } else {
            let sent = client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(self.key(quadkey)))
                .update_expression("SET #a = :new")
                .condition_expression("#a = :old")
                .expression_attribute_names("#a", "assets")
                .expression_attribute_values(":old", old_list)
                .expression_attribute_values(
                    ":new",
                    AttributeValue::L(new.iter().cloned().map(AttributeValue::S).collect()),
                )
                .send()
                .await;
            self.unless_conflict(sent)?.is_some()
        };
        Ok(written)
    }
}

/// DynamoDB error codes that mean "slow down" or "the service failed": the same request
/// may succeed later.
const RETRYABLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "TransactionInProgressException",
    // A conditional write that lost a race and was not handled as one by its caller.
    "ConditionalCheckFailedException",
];

/// Error codes of refused or missing credentials.
const AUTH_CODES: &[&str] = &[
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "IncompleteSignatureException",
    "MissingAuthenticationTokenException",
    "ExpiredTokenException",
    "InvalidClientTokenId",
];

/// Maps an SDK failure of a request on `table` to the crate's error, from the typed parts
/// of the failure: the service's error code, the raw HTTP status, the SDK's failure stage
/// and a credentials error in the source chain. Never from message text.
pub(crate) fn sdk_error<E>(uri: &str, table: &str, e: SdkError<E>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let code = e.code().map(str::to_string);
    let status = e.raw_response().map(|r| r.status().as_u16());
    let no_credentials = has_source::<aws_credential_types::provider::error::CredentialsError>(&e);
    let service_answered = matches!(e, SdkError::ServiceError(_));
    let shown = DisplayErrorContext(&e).to_string();
    let source: crate::error::BoxError = Box::new(DisplayedSdkError(shown, Box::new(e)));
    match code.as_deref() {
        Some("ResourceNotFoundException") => Error::NotFound {
            uri: format!("{uri} (no table `{table}`)"),
        },
        Some(c) if AUTH_CODES.contains(&c) => Error::auth(uri, source),
        Some(c) if RETRYABLE_CODES.contains(&c) => Error::transient(uri, source),
        _ if no_credentials => Error::auth(uri, source),
        _ if service_answered => match status {
            Some(s) if s >= 500 || s == 429 => Error::transient(uri, source),
            _ => Error::storage(uri, source),
        },
        // No service answer: a timeout, a failed connection, an unreadable response.
        _ => Error::transient(uri, source),
    }
}

/// Whether an error of type `T` is somewhere in the source chain of `e`.
fn has_source<T: std::error::Error + 'static>(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if err.is::<T>() {
            return true;
        }
        next = err.source();
    }
    false
}

/// An SDK error shown with its whole context (its own `Display` says only "service
/// error"), keeping the SDK error as its source.
#[derive(Debug)]
struct DisplayedSdkError(String, crate::error::BoxError);

impl std::fmt::Display for DisplayedSdkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DisplayedSdkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.1.as_ref())
    }
}

fn attribute(name: &str) -> Result<AttributeDefinition> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| Error::Internal(e.to_string()))
}

fn key_schema(name: &str, kind: KeyType) -> Result<KeySchemaElement> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(|e| Error::Internal(e.to_string()))
}

/// DynamoDB's size of a tile item: attribute names plus values; a list costs 3 bytes plus
/// one per element.
pub fn tile_item_size(mosaic: &str, quadkey: &str, assets: &[String]) -> usize {
    "mosaicId".len()
        + mosaic.len()
        + "quadkey".len()
        + quadkey.len()
        + "assets".len()
        + 3
        + assets.iter().map(|a| a.len() + 1).sum::<usize>()
}

/// DynamoDB's size of an item: attribute names plus values (numbers counted as their text,
/// an upper bound; lists and maps 3 bytes plus one per element).
fn metadata_item_size(item: &HashMap<String, AttributeValue>) -> usize {
    fn value(v: &AttributeValue) -> usize {
        match v {
            AttributeValue::S(s) | AttributeValue::N(s) => s.len(),
            AttributeValue::L(l) => 3 + l.iter().map(|v| value(v) + 1).sum::<usize>(),
            AttributeValue::M(m) => {
                3 + m.iter().map(|(k, v)| k.len() + value(v) + 1).sum::<usize>()
            }
            _ => 1,
        }
    }
    item.iter().map(|(k, v)| k.len() + value(v)).sum()
}

/// A JSON value as a DynamoDB attribute (numbers as `N` in their JSON text, `null` as `NULL`).
fn to_attribute(v: Value) -> AttributeValue {
    match v {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s),
        Value::Array(a) => AttributeValue::L(a.into_iter().map(to_attribute).collect()),
        Value::Object(m) => {
            AttributeValue::M(m.into_iter().map(|(k, v)| (k, to_attribute(v))).collect())
        }
    }
}

/// A DynamoDB attribute as JSON. `N` becomes an integer when it has no fraction or
/// exponent (boto3 writes Python ints that way), else a float.
fn from_attribute(v: AttributeValue) -> std::result::Result<Value, String> {
    Ok(match v {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(b),
        AttributeValue::S(s) => Value::String(s),
        AttributeValue::N(n) => number(&n)?,
        AttributeValue::L(l) => Value::Array(
            l.into_iter()
                .map(from_attribute)
                .collect::<std::result::Result<_, _>>()?,
        ),
        AttributeValue::M(m) => {
            // Map order is not kept by DynamoDB: sort keys for a stable document.
            let sorted: BTreeMap<String, AttributeValue> = m.into_iter().collect();
            Value::Object(
                sorted
                    .into_iter()
                    .map(|(k, v)| from_attribute(v).map(|v| (k, v)))
                    .collect::<std::result::Result<_, _>>()?,
            )
        }
        AttributeValue::Ss(s) => Value::Array(s.into_iter().map(Value::String).collect()),
        AttributeValue::Ns(ns) => Value::Array(
            ns.iter()
                .map(|n| number(n))
                .collect::<std::result::Result<_, _>>()?,
        ),
        other => return Err(format!("unsupported attribute {other:?}")),
    })
}

fn number(text: &str) -> std::result::Result<Value, String> {
    let bad = || format!("`{text}` is not a number");
    if !text.contains(['.', 'e', 'E'])
        && let Ok(i) = text.parse::<i64>()
    {
        return Ok(Value::Number(i.into()));
    }
    text.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
        .ok_or_else(bad)
}

#[async_trait]
impl MosaicWrite for DynamoDbMosaic {
    fn uri(&self) -> &str {
        &self.uri
    }

    /// Under the mosaic's write lease: refused ([`WriteMode::Create`]) or waited for
    /// ([`WriteMode::Overwrite`]) while another write or delete of the same id runs.
    async fn write(&self, doc: &MosaicJson, mode: WriteMode) -> Result<()> {
        // Everything that can be refused is checked before the first write.
        let metadata = self.metadata_item(doc);
        let bytes = metadata_item_size(&metadata);
        if bytes > MAX_ITEM_BYTES {
            return Err(Error::ItemTooLarge {
                uri: self.uri.clone(),
                quadkey: METADATA_QUADKEY.into(),
                bytes: Some(bytes),
            });
        }
        let puts: Vec<WriteRequest> = doc
            .tiles
            .iter()
            .map(|(qk, assets)| {
                Ok(WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(self.tile_item(qk, assets)?))
                            .build()
                            .map_err(|e| Error::Internal(e.to_string()))?,
                    )
                    .build())
            })
            .collect::<Result<_>>()?;
        self.ensure_table().await?;
        let lease = self.acquire_lease(mode == WriteMode::Overwrite).await?;
        let written = self.write_leased(doc, mode, puts, metadata).await;
        self.release_lease(&lease).await;
        written
    }

    async fn update(&self, footprints: &[Footprint], opts: &UpdateOptions) -> Result<MosaicJson> {
        let current = self.read_metadata().await?;
        let (fps, o) = (footprints.to_vec(), opts.clone());
        let additions = run_blocking("update", move || current.additions(&fps, &o)).await?;
        let at = if opts.add_first {
            Position::First
        } else {
            Position::Last
        };
        super::apply_additions(self, &additions, at).await
    }

    /// Under the mosaic's write lease (waited for).
    async fn delete(&self) -> Result<()> {
        let lease = self.acquire_lease(true).await?;
        let deleted = async {
            let quadkeys = self.list_quadkeys().await?;
            let exists = self.fetch_metadata(true).await?.is_some();
            if !exists && quadkeys.is_empty() {
                return Err(Error::NotFound {
                    uri: self.uri.clone(),
                });
            }
            self.delete_items(quadkeys).await
        }
        .await;
        self.release_lease(&lease).await;
        deleted
    }
}

#[async_trait]
impl TileIndex for DynamoDbMosaic {
    async fn metadata(&self) -> Result<MosaicJson> {
        self.read_metadata().await
    }

    async fn add_assets(
        &self,
        quadkey: &str,
        assets: &[String],
        at: Position,
    ) -> Result<Vec<String>> {
        check_quadkey(quadkey)?;
        let mut seen = HashSet::new();
        let wanted: Vec<String> = assets.iter().filter(|a| seen.insert(*a)).cloned().collect();
        let mut added = Vec::new();
        // Prepending chunk by chunk: the last chunk goes first so the order is kept.
        let mut chunks: Vec<Vec<String>> = wanted
            .chunks(APPEND_CHUNK)
            .map(<[String]>::to_vec)
            .collect();
        if at == Position::First {
            chunks.reverse();
        }
        for chunk in chunks {
            let mut todo = chunk;
            let mut attempt = 0;
            while !todo.is_empty() {
                if self.append_if_absent(quadkey, &todo, at).await? {
                    added.extend(todo);
                    break;
                }
                // Some are there already (another writer, or a repeat): keep the rest.
                let present: HashSet<String> =
                    self.get_assets(quadkey, true).await?.into_iter().collect();
                todo.retain(|a| !present.contains(a));
                attempt += 1;
                if attempt > MAX_ATTEMPTS {
                    return Err(Error::transient(
                        self.uri.clone(),
                        format!("quadkey {quadkey}: too many conflicting writers"),
                    ));
                }
            }
        }
        Ok(added)
    }

    async fn remove_assets(&self, quadkey: &str, assets: &[String]) -> Result<Vec<String>> {
        check_quadkey(quadkey)?;
        let drop: HashSet<&String> = assets.iter().collect();
        let mut attempt = 0;
        loop {
            let old = self.get_assets(quadkey, true).await?;
            let removed: Vec<String> = old.iter().filter(|a| drop.contains(a)).cloned().collect();
            if removed.is_empty() {
                return Ok(removed);
            }
            let new: Vec<String> = old.iter().filter(|a| !drop.contains(a)).cloned().collect();
            if self.swap_assets(quadkey, &old, &new).await? {
                let mut seen = HashSet::new();
                return Ok(removed
                    .into_iter()
                    .filter(|a| seen.insert(a.clone()))
                    .collect());
            }
            attempt += 1;
            self.backoff(attempt, "remove assets").await?;
        }
    }

    /// Only the fields an update changes (`version`, `bounds`, `center`, `mosaicjson`) are
    /// set, under a condition on the version read; retried when another writer got there first.
    /// One paginated `Query` over the mosaic's items.
    async fn tiles(&self) -> Result<Vec<(String, Vec<String>)>> {
        self.query_prefix("", true).await
    }

    async fn commit_metadata(&self, added: Option<[f64; 4]>) -> Result<MosaicJson> {
        let mut attempt = 0;
        loop {
            let mut doc = self.read_metadata().await?;
            let old_version = doc.version.clone();
            doc.record_update(added.unwrap_or(doc.bounds))?;
            let meta = doc.metadata();
            let mut req = self
                .client()
                .await
                .update_item()
                .table_name(&self.table)
                .set_key(Some(self.key(METADATA_QUADKEY)))
                .update_expression("SET #v = :v, #b = :b, #c = :c, #j = :j")
                .condition_expression("#v = :old")
                .expression_attribute_values(":old", AttributeValue::S(old_version));
            for (name, field) in [
                ("#v", "version"),
                ("#b", "bounds"),
                ("#c", "center"),
                ("#j", "mosaicjson"),
            ] {
                let value = meta.get(field).cloned().unwrap_or(Value::Null);
                req = req
                    .expression_attribute_names(name, field)
                    .expression_attribute_values(name.replace('#', ":"), to_attribute(value));
            }
            if self.unless_conflict(req.send().await)?.is_some() {
                return Ok(doc);
            }
            attempt += 1;
            self.backoff(attempt, "metadata update").await?;
        }
    }
}

fn check_quadkey(quadkey: &str) -> Result<()> {
    if quadkey.len() > 30 || !quadkey.bytes().all(|b| (b'0'..=b'3').contains(&b)) {
        return Err(Error::InvalidInput(format!(
            "`{quadkey}` is not a quadkey ([0-3]{{0,30}})"
        )));
    }
    Ok(())
}

/// The mosaic ids of a table (a `Scan` for metadata items, all pages), sorted.
pub async fn list_mosaics(region: Option<&str>, table: &str) -> Result<Vec<String>> {
    let uri = format!("dynamodb://{}/{table}", region.unwrap_or(""));
    let m = DynamoDbMosaic::new(&uri, region, table, "");
    let client = m.client().await;
    let mut names = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .filter_expression("#q = :meta")
            .projection_expression("#m")
            .expression_attribute_names("#q", "quadkey")
            .expression_attribute_names("#m", "mosaicId")
            .expression_attribute_values(":meta", AttributeValue::S(METADATA_QUADKEY.into()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| m.sdk_error(e))?;
        for mut item in page.items.unwrap_or_default() {
            if let Some(AttributeValue::S(id)) = item.remove("mosaicId") {
                names.push(id);
            }
        }
        match page.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => break,
        }
    }
    names.sort();
    Ok(names)
}

/// A DynamoDB mosaic opened for reading: its metadata, and look-ups by key.
#[derive(Debug, Clone)]
pub struct DynamoDbBackend {
    mosaic: DynamoDbMosaic,
    doc: Arc<MosaicJson>,
}

impl DynamoDbBackend {
    /// The connection (for its [`RequestStats`], or to write).
    pub fn mosaic(&self) -> &DynamoDbMosaic {
        &self.mosaic
    }
}

#[async_trait]
impl MosaicRead for DynamoDbBackend {
    fn uri(&self) -> &str {
        &self.mosaic.uri
    }

    fn backend_name(&self) -> &'static str {
        "AWS DynamoDB"
    }

    fn document(&self) -> Arc<MosaicJson> {
        self.doc.clone()
    }

    async fn query(&self, q: &QuadkeyQuery) -> Result<Vec<String>> {
        match q {
            QuadkeyQuery::Exact(qk) => self.mosaic.get_assets(qk, false).await,
            QuadkeyQuery::Prefix(p) => {
                let qz = usize::from(self.doc.effective_quadkey_zoom());
                Ok(self
                    .mosaic
                    .query_prefix(p, true)
                    .await?
                    .into_iter()
                    .filter(|(qk, _)| qk.len() == qz)
                    .flat_map(|(_, a)| a)
                    .collect())
            }
        }
    }

    async fn quadkeys(&self) -> Result<Vec<String>> {
        self.mosaic.list_quadkeys().await
    }

    /// One paginated `Query` over the mosaic's items.
    async fn tiles(&self) -> Result<Vec<(String, Vec<String>)>> {
        TileIndex::tiles(&self.mosaic).await
    }

    /// One request for a single query; the exact keys of a multi-key plan (a bbox) in one
    /// `BatchGetItem` per 100 keys, or, past 100 keys, in a few prefix `Query`s.
    async fn lookup(&self, lookup: &Lookup, opts: &LookupOptions) -> Result<Vec<String>> {
        let plan = index::plan(&self.doc, lookup, opts)?;
        let groups = if plan.len() == 1 {
            vec![self.query(&plan[0]).await?]
        } else {
            let exact: Vec<String> = plan
                .iter()
                .filter_map(|q| match q {
                    QuadkeyQuery::Exact(k) => Some(k.clone()),
                    QuadkeyQuery::Prefix(_) => None,
                })
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let found = if exact.len() <= GET_BATCH {
                self.mosaic.batch_get(&exact).await?
            } else {
                self.mosaic.read_by_prefixes(&exact).await?
            };
            let mut groups = Vec::with_capacity(plan.len());
            for q in &plan {
                groups.push(match q {
                    QuadkeyQuery::Exact(k) => found.get(k).cloned().unwrap_or_default(),
                    QuadkeyQuery::Prefix(_) => self.query(q).await?,
                });
            }
            groups
        };
        Ok(index::combine(
            groups,
            self.doc.asset_prefix.as_deref(),
            opts.reverse,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_round_trip_json() {
        let doc = MosaicJson::new(3, 9);
        let meta = Value::Object(doc.metadata());
        let back = from_attribute(to_attribute(meta.clone())).unwrap();
        let sorted = |v: &Value| {
            serde_json::to_string(&v.as_object().unwrap().iter().collect::<BTreeMap<_, _>>())
                .unwrap()
        };
        assert_eq!(sorted(&back), sorted(&meta));
        assert_eq!(number("7").unwrap(), Value::from(7));
        assert_eq!(number("-180.0").unwrap(), Value::from(-180.0));
        assert_eq!(number("1E-7").unwrap(), Value::from(1e-7));
        assert!(number("x").is_err());
        assert!(from_attribute(AttributeValue::B(vec![1].into())).is_err());
    }

    #[test]
    fn item_size_counts_names_and_list_overhead() {
        let assets = vec!["ab".to_string(), "c".to_string()];
        // 8+1 + 7+3 + 6 + 3 + (3 + 2)
        assert_eq!(tile_item_size("m", "012", &assets), 33);
    }

    #[test]
    fn region_falls_back_to_us_east_1_or_env() {
        assert_eq!(resolve_region(Some("ap-southeast-3")), "ap-southeast-3");
        let fallback = resolve_region(None);
        match std::env::var("AWS_REGION") {
            Ok(r) if !r.is_empty() => assert_eq!(fallback, r),
            _ => assert_eq!(fallback, "us-east-1"),
        }
    }

    #[test]
    fn quadkeys_are_checked_before_editing() {
        assert!(check_quadkey("0123").is_ok());
        assert!(check_quadkey("-1").is_err());
        assert!(check_quadkey("4").is_err());
    }
}
