//! In-memory mosaics (`:memory:`): written and updated in place, gone with the process.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;

use super::{MosaicRead, MosaicWrite, WriteMode};
use crate::create::{Footprint, UpdateOptions};
use crate::index::{Lookup, LookupOptions, MemoryIndex, QuadkeyQuery};
use crate::mosaicjson::MosaicJson;
use crate::{Error, Result};

/// A mosaic held in memory.
#[derive(Debug)]
pub struct MemoryBackend {
    index: RwLock<Option<MemoryIndex>>,
}

impl MemoryBackend {
    /// A backend holding `doc`.
    pub fn new(doc: MosaicJson) -> Result<MemoryBackend> {
        Ok(MemoryBackend {
            index: RwLock::new(Some(MemoryIndex::new(doc)?)),
        })
    }

    /// A backend with no document yet (a write target).
    pub fn empty() -> MemoryBackend {
        MemoryBackend {
            index: RwLock::new(None),
        }
    }

    fn current(&self) -> Result<MemoryIndex> {
        self.index
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| Error::NotFound {
                uri: ":memory:".into(),
            })
    }
}

#[async_trait]
impl MosaicRead for MemoryBackend {
    fn uri(&self) -> &str {
        ":memory:"
    }

    fn backend_name(&self) -> &'static str {
        "MEM"
    }

    fn document(&self) -> Arc<MosaicJson> {
        self.current()
            .map(|i| i.document().clone())
            .unwrap_or_else(|_| Arc::new(MosaicJson::new(0, 0)))
    }

    async fn query(&self, q: &QuadkeyQuery) -> Result<Vec<String>> {
        Ok(self.current()?.query(q))
    }

    async fn quadkeys(&self) -> Result<Vec<String>> {
        Ok(self.current()?.document().tiles.keys().cloned().collect())
    }

    async fn tiles(&self) -> Result<Vec<(String, Vec<String>)>> {
        Ok(self.current()?.tiles())
    }

    async fn lookup(&self, lookup: &Lookup, opts: &LookupOptions) -> Result<Vec<String>> {
        self.current()?.lookup(lookup, opts)
    }
}

#[async_trait]
impl MosaicWrite for MemoryBackend {
    fn uri(&self) -> &str {
        ":memory:"
    }

    async fn write(&self, doc: &MosaicJson, mode: WriteMode) -> Result<()> {
        let mut slot = self.index.write().unwrap_or_else(|p| p.into_inner());
        if mode == WriteMode::Create && slot.is_some() {
            return Err(Error::AlreadyExists {
                uri: ":memory:".into(),
            });
        }
        *slot = Some(MemoryIndex::new(doc.clone())?);
        Ok(())
    }

    async fn update(&self, footprints: &[Footprint], opts: &UpdateOptions) -> Result<MosaicJson> {
        let mut doc = (**self.current()?.document()).clone();
        doc.update(footprints, opts)?;
        *self.index.write().unwrap_or_else(|p| p.into_inner()) =
            Some(MemoryIndex::new(doc.clone())?);
        Ok(doc)
    }

    async fn delete(&self) -> Result<()> {
        self.index
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .map(|_| ())
            .ok_or(Error::NotFound {
                uri: ":memory:".into(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::create::CreateOptions;

    #[tokio::test]
    async fn update_puts_new_assets_first() {
        let doc = MosaicJson::from_footprints(
            &[Footprint::from_bbox("cog1.tif", [0.0, 0.0, 1.0, 1.0])],
            &CreateOptions::new(7, 9),
        )
        .unwrap();
        let mem = MemoryBackend::new(doc).unwrap();
        mem.update(
            &[Footprint::from_bbox("cog2.tif", [0.0, 0.0, 1.0, 1.0])],
            &UpdateOptions::default(),
        )
        .await
        .unwrap();
        let assets = mem
            .assets_for_point(0.5, 0.5, &Default::default())
            .await
            .unwrap();
        assert_eq!(assets, ["cog2.tif", "cog1.tif"]);
        mem.delete().await.unwrap();
        assert!(mem.quadkeys().await.is_err());
    }
}
