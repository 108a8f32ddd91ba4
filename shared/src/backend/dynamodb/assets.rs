//! Asset records ([`crate::backend::assets`]) in DynamoDB: a partition of their own beside
//! the mosaic's, `mosaicId = "{mosaic}:assets"` (`:` is not allowed in mosaic names, so no
//! mosaic takes it, and cogeo-mosaic, which reads and lists only its own partition and the
//! `"-1"` items, never sees them).
//!
//! | item | attributes |
//! |---|---|
//! | one per asset | `quadkey = "a:" + SHA-224(asset)` (sort keys are limited to 1 KB, assets are not), `asset`, `quadkeys` (string set, only grows), `sequencer` (padded hex, when events carried one), `present` |
//! | `quadkey = "tracked"` | written with a whole document: every asset has a record |
//!
//! A claim is one conditional `UpdateItem` (`sequencer <= :seq`) returning the old record; a
//! claimed edit is one `TransactWriteItems`: a `ConditionCheck` that the record still holds
//! the event's sequencer, and the tile edit.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, PutRequest, ReturnValue, TransactWriteItem, WriteRequest,
};
use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha224};

use super::DynamoDbWriter;
use super::list_edit::ListEdit;
use crate::backend::assets::{AssetEvent, AssetRecord, Claim, Edit, Edited, Sequencer};
use crate::{Error, Result};

/// The sort key of the marker item of a mosaic whose assets all have records.
const TRACKED: &str = "tracked";

/// Records written at once by `record_assets`.
const RECORD_CONCURRENCY: usize = 16;

/// What a transaction's cancellation says about its two actions (check, edit).
enum Cancelled {
    /// The record no longer holds the event's sequencer.
    Superseded,
    /// The edit's own condition failed.
    EditCondition,
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(e.to_string())
}

impl DynamoDbWriter {
    /// The partition of this mosaic's asset records.
    fn assets_partition(&self) -> String {
        format!("{}:assets", self.mosaic)
    }

    fn record_key(&self, sort: String) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (
                "mosaicId".to_string(),
                AttributeValue::S(self.assets_partition()),
            ),
            ("quadkey".to_string(), AttributeValue::S(sort)),
        ])
    }

    /// The key of `asset`'s record.
    fn asset_key(&self, asset: &str) -> HashMap<String, AttributeValue> {
        let digest: String = Sha224::digest(asset.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.record_key(format!("a:{digest}"))
    }

    fn parse_record(&self, mut item: HashMap<String, AttributeValue>) -> AssetRecord {
        let mut quadkeys = match item.remove("quadkeys") {
            Some(AttributeValue::Ss(q)) => q,
            _ => Vec::new(),
        };
        quadkeys.sort();
        AssetRecord {
            quadkeys,
            sequencer: match item.remove("sequencer") {
                Some(AttributeValue::S(s)) => Sequencer::parse(&s).ok(),
                _ => None,
            },
            present: !matches!(item.remove("present"), Some(AttributeValue::Bool(false))),
        }
    }

    /// The record of `asset` (consistent read).
    pub(super) async fn read_record(&self, asset: &str) -> Result<Option<AssetRecord>> {
        let out = self
            .client()
            .await
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.asset_key(asset)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.sdk_error(e))?;
        Ok(out
            .item
            .filter(|i| !i.is_empty())
            .map(|i| self.parse_record(i)))
    }

    /// Whether the marker of a fully recorded mosaic is there.
    pub(super) async fn read_tracked(&self) -> Result<bool> {
        let out = self
            .client()
            .await
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.record_key(TRACKED.into())))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.sdk_error(e))?;
        Ok(out.item.is_some_and(|i| !i.is_empty()))
    }

    /// Adds `quadkeys` to `asset`'s record (created, present, when missing).
    async fn add_to_record(&self, asset: &str, quadkeys: &[String]) -> Result<()> {
        let mut req = self
            .client()
            .await
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.asset_key(asset)))
            .expression_attribute_names("#asset", "asset")
            .expression_attribute_names("#p", "present")
            .expression_attribute_values(":asset", AttributeValue::S(asset.to_string()))
            .expression_attribute_values(":true", AttributeValue::Bool(true));
        req = if quadkeys.is_empty() {
            req.update_expression("SET #asset = :asset, #p = :true")
        } else {
            req.update_expression("SET #asset = :asset, #p = :true ADD #q :q")
                .expression_attribute_names("#q", "quadkeys")
                .expression_attribute_values(":q", AttributeValue::Ss(quadkeys.to_vec()))
        };
        req.send().await.map_err(|e| self.sdk_error(e))?;
        Ok(())
    }

    /// [`crate::backend::TileIndex::record_assets`].
    pub(super) async fn add_to_records(&self, records: &[(String, Vec<String>)]) -> Result<()> {
        let writes: Vec<futures::future::BoxFuture<'_, Result<()>>> = records
            .iter()
            .map(|(a, qks)| Box::pin(self.add_to_record(a, qks)) as _)
            .collect();
        futures::stream::iter(writes)
            .buffer_unordered(RECORD_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await
            .map(|_| ())
    }

    /// [`crate::backend::TileIndex::claim_asset`]: one conditional `UpdateItem` returning the
    /// old record; a refused claim reads the newer record.
    pub(super) async fn claim(&self, event: &AssetEvent) -> Result<Claim> {
        let mut set = vec!["#asset = :asset", "#p = :p"];
        let mut req = self
            .client()
            .await
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.asset_key(&event.asset)))
            .return_values(ReturnValue::AllOld)
            .expression_attribute_names("#asset", "asset")
            .expression_attribute_names("#p", "present")
            .expression_attribute_values(":asset", AttributeValue::S(event.asset.clone()))
            .expression_attribute_values(":p", AttributeValue::Bool(event.present));
        if let Some(seq) = &event.sequencer {
            set.push("#s = :s");
            req = req
                .expression_attribute_names("#s", "sequencer")
                .expression_attribute_values(":s", AttributeValue::S(seq.as_str().to_string()))
                .condition_expression("attribute_not_exists(#s) OR #s <= :s");
        }
        let mut update = format!("SET {}", set.join(", "));
        if !event.quadkeys.is_empty() {
            update.push_str(" ADD #q :q");
            req = req
                .expression_attribute_names("#q", "quadkeys")
                .expression_attribute_values(":q", AttributeValue::Ss(event.quadkeys.clone()));
        }
        match self.unless_conflict(req.update_expression(update).send().await)? {
            Some(out) => Ok(Claim::Applied(
                out.attributes
                    .filter(|a| !a.is_empty())
                    .map(|a| self.parse_record(a)),
            )),
            None => Ok(Claim::Stale(
                self.read_record(&event.asset).await?.unwrap_or_default(),
            )),
        }
    }

    /// The `ConditionCheck` that `asset`'s record still holds `seq`.
    fn still_claimed(&self, asset: &str, seq: &Sequencer) -> Result<TransactWriteItem> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(self.asset_key(asset)))
            .condition_expression("#s = :s")
            .expression_attribute_names("#s", "sequencer")
            .expression_attribute_values(":s", AttributeValue::S(seq.as_str().to_string()))
            .build()
            .map_err(internal)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// Sends a claim check and an edit as one transaction; `Err(Ok(why))` when cancelled by
    /// a condition.
    async fn transact(
        &self,
        check: TransactWriteItem,
        edit: TransactWriteItem,
    ) -> Result<std::result::Result<(), Cancelled>> {
        let sent = self
            .client()
            .await
            .transact_write_items()
            .transact_items(check)
            .transact_items(edit)
            .send()
            .await;
        let e = match sent {
            Ok(_) => return Ok(Ok(())),
            Err(e) => e,
        };
        if let Some(TransactWriteItemsError::TransactionCanceledException(c)) = e.as_service_error()
        {
            let failed = |i: usize| {
                c.cancellation_reasons()
                    .get(i)
                    .and_then(|r| r.code())
                    .is_some_and(|code| code == "ConditionalCheckFailed")
            };
            if failed(0) {
                return Ok(Err(Cancelled::Superseded));
            }
            if failed(1) {
                return Ok(Err(Cancelled::EditCondition));
            }
        }
        // Throttling, conflicts with another transaction and the like: `sdk_error` types them
        // by their error code.
        Err(self.sdk_error(e))
    }

    /// [`crate::backend::TileIndex::edit_claimed`] with a sequencer.
    pub(super) async fn edit_with_check(
        &self,
        quadkey: &str,
        asset: &str,
        edit: Edit,
        seq: &Sequencer,
    ) -> Result<Edited> {
        match edit {
            Edit::Add(at) => {
                let add = ListEdit::append_if_absent(&[asset.to_string()], at);
                let edit = self.list_edit_item(quadkey, add)?;
                Ok(
                    match self.transact(self.still_claimed(asset, seq)?, edit).await? {
                        Ok(()) => Edited::Changed,
                        Err(Cancelled::Superseded) => Edited::Superseded,
                        Err(Cancelled::EditCondition) => Edited::Unchanged,
                    },
                )
            }
            Edit::Remove => {
                let mut attempt = 0;
                loop {
                    let old = self.get_assets(quadkey, true).await?;
                    if !old.iter().any(|a| a == asset) {
                        return Ok(Edited::Unchanged);
                    }
                    let new: Vec<String> = old.iter().filter(|a| *a != asset).cloned().collect();
                    let edit = self.list_edit_item(quadkey, ListEdit::swap(&old, &new))?;
                    match self.transact(self.still_claimed(asset, seq)?, edit).await? {
                        Ok(()) => return Ok(Edited::Changed),
                        Err(Cancelled::Superseded) => return Ok(Edited::Superseded),
                        // The list changed meanwhile: read it again.
                        Err(Cancelled::EditCondition) => {
                            attempt += 1;
                            self.backoff(attempt, "remove asset").await?;
                        }
                    }
                }
            }
        }
    }

    /// Put requests of the records of every asset of `tiles`, and the marker.
    pub(super) fn record_puts(
        &self,
        tiles: &indexmap::IndexMap<String, Vec<String>>,
    ) -> Result<Vec<WriteRequest>> {
        let put = |item: HashMap<String, AttributeValue>| -> Result<WriteRequest> {
            Ok(WriteRequest::builder()
                .put_request(
                    PutRequest::builder()
                        .set_item(Some(item))
                        .build()
                        .map_err(internal)?,
                )
                .build())
        };
        let mut out = Vec::new();
        for (asset, quadkeys) in crate::backend::assets::invert(tiles) {
            let mut item = self.asset_key(&asset);
            item.insert("asset".into(), AttributeValue::S(asset));
            item.insert("quadkeys".into(), AttributeValue::Ss(quadkeys));
            item.insert("present".into(), AttributeValue::Bool(true));
            out.push(put(item)?);
        }
        out.push(put(self.record_key(TRACKED.into()))?);
        Ok(out)
    }

    /// Delete requests of every item of the records partition.
    pub(super) async fn record_deletes(&self) -> Result<Vec<WriteRequest>> {
        let client = self.client().await;
        let mut keys = Vec::new();
        let mut start = None;
        loop {
            let page = client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#m = :m")
                .projection_expression("#m, #q")
                .expression_attribute_names("#m", "mosaicId")
                .expression_attribute_names("#q", "quadkey")
                .expression_attribute_values(":m", AttributeValue::S(self.assets_partition()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| self.sdk_error(e))?;
            keys.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        keys.into_iter()
            .map(|key| {
                Ok(WriteRequest::builder()
                    .delete_request(
                        aws_sdk_dynamodb::types::DeleteRequest::builder()
                            .set_key(Some(key))
                            .build()
                            .map_err(internal)?,
                    )
                    .build())
            })
            .collect()
    }
}
