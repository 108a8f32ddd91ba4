//! Per-quadkey edits ([`TileIndex`]): conditional appends and compare-and-swap removals of
//! one quadkey's list, the metadata version bumped under a condition on the version read.

use std::collections::HashSet;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

use super::attributes::{tile_item_size, to_attribute};
use super::list_edit::{ListEdit, Sent};
use super::{APPEND_CHUNK, DynamoDbWriter, MAX_ATTEMPTS, METADATA_QUADKEY, check_quadkey};
use crate::backend::{
    AssetEvent, AssetRecord, Claim, Edit, Edited, Position, Sequencer, TileIndex,
};
use crate::mosaicjson::MosaicJson;
use crate::{Error, Result};

impl DynamoDbWriter {
    /// `Ok(false)`: the condition failed, another writer added one of them.
    async fn append_if_absent(
        &self,
        quadkey: &str,
        assets: &[String],
        at: Position,
    ) -> Result<bool> {
        match self
            .send_list_edit(quadkey, ListEdit::append_if_absent(assets, at))
            .await
        {
            Sent::Written => Ok(true),
            Sent::ConditionFailed => Ok(false),
            // DynamoDB refuses an update that would grow the item past 400 KB with a
            // ValidationException. This expression is fixed and its values are strings
            // within DynamoDB's limits (at most APPEND_CHUNK of them), so growth is the one
            // thing it can fail validation on; the error carries the size the item would
            // have (services count it slightly differently: moto refuses below 400 KiB).
            Sent::Failed { code, .. } if code.as_deref() == Some("ValidationException") => {
                let mut grown = self.get_assets(quadkey, true).await?;
                grown.extend(assets.iter().cloned());
                Err(Error::ItemTooLarge {
                    uri: self.uri.clone(),
                    quadkey: quadkey.to_string(),
                    bytes: Some(tile_item_size(&self.mosaic, quadkey, &grown)),
                })
            }
            Sent::Failed { error, .. } => Err(error),
        }
    }

    /// Replaces the list of `quadkey` by `new` if it still equals `old` (deletes the item
    /// when `new` is empty). `Ok(false)`: it changed meanwhile.
    async fn swap_assets(&self, quadkey: &str, old: &[String], new: &[String]) -> Result<bool> {
        match self.send_list_edit(quadkey, ListEdit::swap(old, new)).await {
            Sent::Written => Ok(true),
            Sent::ConditionFailed => Ok(false),
            Sent::Failed { error, .. } => Err(error),
        }
    }
}

#[async_trait]
impl TileIndex for DynamoDbWriter {
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
        self.commit_from(None, added).await
    }

    /// The first attempt starts from `read` (no read request); a conflict reads again.
    async fn commit_metadata_from(
        &self,
        read: &MosaicJson,
        added: Option<[f64; 4]>,
    ) -> Result<MosaicJson> {
        self.commit_from(Some(read.clone()), added).await
    }

    async fn asset_record(&self, asset: &str) -> Result<Option<AssetRecord>> {
        self.read_record(asset).await
    }

    async fn tracks_assets(&self) -> Result<bool> {
        self.read_tracked().await
    }

    async fn record_assets(&self, records: &[(String, Vec<String>)]) -> Result<()> {
        self.add_to_records(records).await
    }

    async fn claim_asset(&self, event: &AssetEvent) -> Result<Claim> {
        self.claim(event).await
    }

    async fn edit_claimed(
        &self,
        quadkey: &str,
        asset: &str,
        edit: Edit,
        sequencer: Option<&Sequencer>,
    ) -> Result<Edited> {
        check_quadkey(quadkey)?;
        let one = [asset.to_string()];
        match (sequencer, edit) {
            (Some(seq), _) => self.edit_with_check(quadkey, asset, edit, seq).await,
            (None, Edit::Add(at)) => Ok(changed(self.add_assets(quadkey, &one, at).await?)),
            (None, Edit::Remove) => Ok(changed(self.remove_assets(quadkey, &one).await?)),
        }
    }
}

/// An unconditional edit's outcome.
fn changed(assets: Vec<String>) -> Edited {
    if assets.is_empty() {
        Edited::Unchanged
    } else {
        Edited::Changed
    }
}

impl DynamoDbWriter {
    /// Commits the metadata under a condition on the version read, starting from `first`
    /// when given; retried on conflict.
    async fn commit_from(
        &self,
        first: Option<MosaicJson>,
        added: Option<[f64; 4]>,
    ) -> Result<MosaicJson> {
        let mut attempt = 0;
        let mut first = first;
        loop {
            let mut doc = match first.take() {
                Some(doc) => doc,
                None => self.read_metadata().await?,
            };
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
