//! A whole MosaicJSON document read into memory and indexed: what the file and object-store
//! backends (S3, GCS, Azure, HTTP) hand out. They differ only in how the bytes arrive.

use std::sync::Arc;

use async_trait::async_trait;

use super::MosaicRead;
use crate::Result;
use crate::index::{Lookup, LookupOptions, MemoryIndex, QuadkeyQuery};
use crate::mosaicjson::MosaicJson;

/// A mosaic document loaded whole, answering look-ups from its in-memory [`MemoryIndex`].
#[derive(Debug, Clone)]
pub struct DocumentBackend {
    uri: String,
    name: &'static str,
    index: MemoryIndex,
    size: u64,
}

impl DocumentBackend {
    /// Indexes `doc`, read from `uri` by the backend called `name` (`size` stored bytes).
    pub(crate) fn new(uri: &str, name: &'static str, doc: MosaicJson, size: u64) -> Result<Self> {
        Ok(DocumentBackend {
            uri: uri.to_string(),
            name,
            index: MemoryIndex::new(doc)?,
            size,
        })
    }
}

#[async_trait]
impl MosaicRead for DocumentBackend {
    fn uri(&self) -> &str {
        &self.uri
    }

    fn backend_name(&self) -> &'static str {
        self.name
    }

    fn document(&self) -> Arc<MosaicJson> {
        self.index.document().clone()
    }

    fn stored_size(&self) -> Option<u64> {
        Some(self.size)
    }

    async fn query(&self, q: &QuadkeyQuery) -> Result<Vec<String>> {
        Ok(self.index.query(q))
    }

    async fn quadkeys(&self) -> Result<Vec<String>> {
        Ok(self.index.document().tiles.keys().cloned().collect())
    }

    async fn tiles(&self) -> Result<Vec<(String, Vec<String>)>> {
        Ok(self.index.tiles())
    }

    async fn lookup(&self, lookup: &Lookup, opts: &LookupOptions) -> Result<Vec<String>> {
        self.index.lookup(lookup, opts)
    }
}
