//! Batched requests: `BatchGetItem` (100 keys a call) and `BatchWriteItem` (25 items a
//! call, several in flight), unprocessed keys and items retried with backoff.

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, KeysAndAttributes, WriteRequest};
use futures::{StreamExt, TryStreamExt};

use super::{
    DynamoDbWriter, GET_BATCH, MAX_PREFIX_QUERIES, PREFIX_AMPLIFICATION, TileItem, WRITE_BATCH,
    WRITE_CONCURRENCY,
};
use crate::{Error, Result};

impl DynamoDbWriter {
    /// Assets of many exact quadkeys with `BatchGetItem` (100 keys a call, unprocessed keys
    /// retried). Absent quadkeys are absent from the map.
    pub(super) async fn batch_get(
        &self,
        quadkeys: &[String],
    ) -> Result<HashMap<String, Vec<String>>> {
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
    pub(super) async fn read_by_prefixes(
        &self,
        quadkeys: &[String],
    ) -> Result<HashMap<String, Vec<String>>> {
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
    /// Sends `requests` in `BatchWriteItem`s of 25, several in flight, retrying unprocessed
    /// items with backoff.
    pub(super) async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<()> {
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

    pub(super) fn delete_requests(
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
}
