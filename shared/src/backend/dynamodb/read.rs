//! Reading a DynamoDB mosaic: its metadata item, the assets of one key or of a key prefix,
//! and [`DynamoDbReader`], the opened mosaic answering look-ups.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Map;

use super::attributes::from_attribute;
use super::{DynamoDbWriter, GET_BATCH, METADATA_QUADKEY};
use crate::backend::{MosaicRead, TileIndex};
use crate::index::{self, Lookup, LookupOptions, QuadkeyQuery};
use crate::mosaicjson::MosaicJson;
use crate::{Error, Result};

impl DynamoDbWriter {
    /// The metadata item as a document with empty `tiles`; `None` when the mosaic is absent.
    pub(super) async fn fetch_metadata(&self, consistent: bool) -> Result<Option<MosaicJson>> {
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
    pub async fn open(self) -> Result<DynamoDbReader> {
        let doc = self
            .fetch_metadata(false)
            .await?
            .ok_or_else(|| Error::NotFound {
                uri: self.uri.clone(),
            })?;
        Ok(DynamoDbReader {
            doc: Arc::new(doc),
            writer: self,
        })
    }

    /// The assets of one quadkey (empty when the item is absent).
    pub(super) async fn get_assets(&self, quadkey: &str, consistent: bool) -> Result<Vec<String>> {
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

    pub(super) fn assets_of(
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
    pub(super) async fn query_prefix(
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

    /// Every quadkey of the mosaic (all pages; the metadata item excluded).
    pub async fn list_quadkeys(&self) -> Result<Vec<String>> {
        Ok(self
            .query_prefix("", false)
            .await?
            .into_iter()
            .map(|(qk, _)| qk)
            .collect())
    }
}

/// A DynamoDB mosaic opened for reading: its metadata, and look-ups by key.
#[derive(Debug, Clone)]
pub struct DynamoDbReader {
    writer: DynamoDbWriter,
    doc: Arc<MosaicJson>,
}

impl DynamoDbReader {
    /// The connection (to write, or for its clients' [`RequestStats`](super::RequestStats)).
    pub fn writer(&self) -> &DynamoDbWriter {
        &self.writer
    }

    /// Requests sent so far through the reader's clients.
    pub fn stats(&self) -> Arc<super::RequestStats> {
        self.writer.stats()
    }
}

#[async_trait]
impl MosaicRead for DynamoDbReader {
    fn uri(&self) -> &str {
        &self.writer.uri
    }

    fn backend_name(&self) -> &'static str {
        "AWS DynamoDB"
    }

    fn document(&self) -> Arc<MosaicJson> {
        self.doc.clone()
    }

    async fn query(&self, q: &QuadkeyQuery) -> Result<Vec<String>> {
        match q {
            QuadkeyQuery::Exact(qk) => self.writer.get_assets(qk, false).await,
            QuadkeyQuery::Prefix(p) => {
                let qz = usize::from(self.doc.effective_quadkey_zoom());
                Ok(self
                    .writer
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
        self.writer.list_quadkeys().await
    }

    /// One paginated `Query` over the mosaic's items.
    async fn tiles(&self) -> Result<Vec<(String, Vec<String>)>> {
        TileIndex::tiles(&self.writer).await
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
                self.writer.batch_get(&exact).await?
            } else {
                self.writer.read_by_prefixes(&exact).await?
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
