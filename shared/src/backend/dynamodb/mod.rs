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
//! Beside it, in the partition `{mosaic}:assets`, one record per asset (where it is listed,
//! the newest event applied to it): see `assets.rs`. cogeo-mosaic never reads that partition.
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
//! The endpoint, credentials and default region come from the standard AWS configuration
//! (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL`, `AWS_REGION`, profiles), loaded once per
//! [`DynamoDbClients`]; the region of a URI that names one is that one. A URI naming no
//! region, with none configured, uses `us-east-1`.
//!
//! # Modules
//!
//! [`DynamoDbWriter`] is one mosaic of one table; its methods are spread by concern:
//! `read` (metadata, per-key reads, [`DynamoDbReader`]), `batch` (`BatchGetItem` /
//! `BatchWriteItem`), `write` ([`MosaicWrite`]), `lease` (the write lease), `index`
//! ([`TileIndex`]); `client` holds [`DynamoDbClients`], `errors` the classification of SDK
//! failures, `attributes` the JSON ↔ attribute conversion.

mod assets;
mod attributes;
mod batch;
mod client;
mod errors;
mod index;
mod lease;
mod list_edit;
mod read;
mod write;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use tokio::sync::OnceCell;

#[cfg(doc)]
use super::{MosaicWrite, TileIndex};
use crate::{Error, Result};

pub use attributes::tile_item_size;
pub use client::{CountRequests, DynamoDbClients, RequestStats};
pub(crate) use errors::sdk_error;
pub use read::DynamoDbReader;

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

/// One mosaic in one DynamoDB table: the writer ([`MosaicWrite`]), the per-quadkey
/// [`TileIndex`], and the connection a [`DynamoDbReader`] reads through. Its client comes
/// from the [`DynamoDbClients`] it is given, on first use.
#[derive(Debug, Clone)]
pub struct DynamoDbWriter {
    uri: String,
    /// The URI's region; `None`: the clients' default.
    region: Option<String>,
    table: String,
    mosaic: String,
    clients: DynamoDbClients,
    client: Arc<OnceCell<Client>>,
}

impl DynamoDbWriter {
    /// The mosaic `mosaic` of `table` (`region`: from the URI, if it has one), reached
    /// through `clients`. Nothing is sent yet.
    ///
    /// ```
    /// use mosaic::backend::dynamodb::{DynamoDbClients, DynamoDbWriter};
    /// let m = DynamoDbWriter::new("dynamodb:///t:m", None, "t", "m", DynamoDbClients::from_env());
    /// assert_eq!(m.table(), "t");
    /// ```
    pub fn new(
        uri: &str,
        region: Option<&str>,
        table: &str,
        mosaic: &str,
        clients: DynamoDbClients,
    ) -> DynamoDbWriter {
        DynamoDbWriter {
            uri: uri.to_string(),
            region: region.map(str::to_string),
            table: table.to_string(),
            mosaic: mosaic.to_string(),
            clients,
            client: Arc::new(OnceCell::new()),
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

    /// The region the URI names (`None`: the default region of the clients).
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// The clients requests go through.
    pub fn clients(&self) -> &DynamoDbClients {
        &self.clients
    }

    /// Requests sent so far through this mosaic's clients.
    pub fn stats(&self) -> Arc<RequestStats> {
        self.clients.stats()
    }

    async fn client(&self) -> &Client {
        self.client
            .get_or_init(|| self.clients.client(self.region.as_deref()))
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

    /// Sleeps before retry `attempt` (exponential, jittered, capped); fails past the limit.
    async fn backoff(&self, attempt: u32, what: &str) -> Result<()> {
        if attempt > MAX_ATTEMPTS {
            return Err(Error::transient(
                self.uri.clone(),
                format!("{what} still conflicting or throttled after {MAX_ATTEMPTS} attempts"),
            ));
        }
        // backon's exponential schedule with full jitter, 10 ms doubling up to 1 s.
        use backon::BackoffBuilder;
        let delay = backon::ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(10))
            .with_max_delay(Duration::from_secs(1))
            .with_jitter()
            .without_max_times()
            .build()
            .nth(attempt.saturating_sub(1) as usize)
            .unwrap_or(Duration::from_secs(1));
        tokio::time::sleep(delay).await;
        Ok(())
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

/// The mosaic ids of a table (a `Scan` for metadata items, all pages), sorted, through
/// `clients`.
pub async fn list_mosaics(
    clients: &DynamoDbClients,
    region: Option<&str>,
    table: &str,
) -> Result<Vec<String>> {
    let uri = format!("dynamodb://{}/{table}", region.unwrap_or(""));
    let m = DynamoDbWriter::new(&uri, region, table, "", clients.clone());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quadkeys_are_checked_before_editing() {
        assert!(check_quadkey("0123").is_ok());
        assert!(check_quadkey("-1").is_err());
        assert!(check_quadkey("4").is_err());
    }
}
