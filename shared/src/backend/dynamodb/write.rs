//! Whole-document writes ([`MosaicWrite`]): the table created when missing, tile items in
//! batches, the metadata item last, under the write lease.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, PutRequest,
    ScalarAttributeType, TableStatus, WriteRequest,
};

use super::attributes::{metadata_item_size, tile_item_size, to_attribute};
use super::{DynamoDbWriter, MAX_ATTEMPTS, MAX_ITEM_BYTES, METADATA_QUADKEY};
use crate::backend::{MosaicWrite, Position, WriteMode};
use crate::create::{Footprint, UpdateOptions};
use crate::error::run_blocking;
use crate::mosaicjson::MosaicJson;
use crate::{Error, Result};

impl DynamoDbWriter {
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
        // Asset records: the old ones go, every asset of the new document gets one (and the
        // mosaic its "tracked" marker), before the tile items that list them.
        let old_records = self.record_deletes().await?;
        self.batch_write(old_records).await?;
        let mut items = self.record_puts(&doc.tiles)?;
        items.extend(puts);
        self.batch_write(items).await?;
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

#[async_trait]
impl MosaicWrite for DynamoDbWriter {
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
        crate::backend::apply_additions(self, &additions, at).await
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
            self.delete_items(quadkeys).await?;
            let records = self.record_deletes().await?;
            self.batch_write(records).await
        }
        .await;
        self.release_lease(&lease).await;
        deleted
    }
}
