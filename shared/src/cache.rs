//! The process-wide, bounded, TTL'd cache of opened mosaics (moka), configured with
//! cogeo-mosaic's variables: `COGEO_MOSAIC_CACHE_TTL` (seconds, default 300),
//! `COGEO_MOSAIC_CACHE_MAXSIZE` (entries, default 512) and `COGEO_MOSAIC_CACHE_DISABLE`
//! (a real boolean: `false`/`0`/`no` keep the cache on, unlike upstream).
//!
//! A cached mosaic is re-read after the TTL: changes made by other processes are seen
//! within at most that delay.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;

use crate::backend::{self, MosaicRead};
use crate::index::{Lookup, LookupOptions};
use crate::{Error, Result};

/// Cache settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CacheSettings {
    /// Entry lifetime.
    pub ttl: Duration,
    /// Maximum number of entries.
    pub max_size: u64,
    /// Caching off.
    pub disabled: bool,
    /// Most memory the cached documents and look-ups may hold, estimated from their
    /// contents (`MOSAIC_CACHE_MAX_BYTES`, default 256 MiB): the entry count alone would let
    /// 512 large documents fill any Lambda.
    pub max_bytes: u64,
}

/// Parses a boolean as pydantic does (`1/true/yes/on/t/y`, `0/false/no/off/f/n`, any case).
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" | "t" | "y" => Some(true),
        "0" | "false" | "no" | "off" | "f" | "n" | "" => Some(false),
        _ => None,
    }
}

impl CacheSettings {
    /// Reads the cache's variables from `settings`; unparsable values keep the defaults
    /// (with a warning).
    pub fn from_settings(settings: &crate::settings::Settings) -> CacheSettings {
        Self::from_lookup(|k| settings.get(k).map(str::to_string))
    }

    /// Reads the settings through `get` (testable without touching the process environment).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> CacheSettings {
        let mut s = CacheSettings {
            ttl: Duration::from_secs(300),
            max_size: 512,
            disabled: false,
            max_bytes: 256 << 20,
        };
        if let Some(v) = get("MOSAIC_CACHE_MAX_BYTES") {
            match v.trim().parse::<u64>() {
                Ok(b) if b > 0 => s.max_bytes = b,
                _ => tracing::warn!("MOSAIC_CACHE_MAX_BYTES={v:?} is not a positive number"),
            }
        }
        if let Some(v) = get("COGEO_MOSAIC_CACHE_TTL") {
            match v.trim().parse::<u64>() {
                Ok(t) => s.ttl = Duration::from_secs(t),
                Err(_) => tracing::warn!(
                    "COGEO_MOSAIC_CACHE_TTL={v:?} is not a number of seconds; using 300"
                ),
            }
        }
        if let Some(v) = get("COGEO_MOSAIC_CACHE_MAXSIZE") {
            match v.trim().parse::<u64>() {
                Ok(m) => s.max_size = m,
                Err(_) => {
                    tracing::warn!("COGEO_MOSAIC_CACHE_MAXSIZE={v:?} is not a number; using 512")
                }
            }
        }
        if let Some(v) = get("COGEO_MOSAIC_CACHE_DISABLE") {
            match parse_bool(&v) {
                Some(b) => s.disabled = b,
                None => tracing::warn!(
                    "COGEO_MOSAIC_CACHE_DISABLE={v:?} is not a boolean; cache stays on"
                ),
            }
        }
        if s.ttl.is_zero() || s.max_size == 0 {
            s.disabled = true;
        }
        s
    }
}

/// Estimated heap bytes of an opened mosaic: its document's tiles (keys, lists, strings)
/// and the in-memory index over them; databases hold only their metadata.
fn document_bytes(m: &Arc<dyn MosaicRead>) -> u64 {
    let doc = m.document();
    doc.tiles
        .iter()
        .map(|(qk, assets)| {
            64 + qk.len() as u64 + assets.iter().map(|a| 24 + a.len() as u64).sum::<u64>()
        })
        .sum::<u64>()
        + 1024
}

/// A cache of opened mosaics keyed by URI.
#[derive(Debug, Clone)]
pub struct MosaicCache {
    settings: CacheSettings,
    backends: backend::Backends,
    mosaics: Cache<String, Arc<dyn MosaicRead>>,
    lookups: Cache<String, Arc<Vec<String>>>,
}

impl MosaicCache {
    /// A cache with the given settings.
    pub fn new(settings: CacheSettings) -> MosaicCache {
        // Entries weigh their estimated KiB, and at least 1/max_size of the budget: so the
        // cache holds at most `max_size` entries and at most `max_bytes`.
        let budget_kib = (settings.max_bytes / 1024).max(1);
        let floor = (budget_kib / settings.max_size.max(1)).max(1);
        let weight = move |bytes: u64| -> u32 {
            u32::try_from((bytes / 1024).max(floor)).unwrap_or(u32::MAX)
        };
        let mosaics = Cache::builder()
            .max_capacity(budget_kib)
            .weigher(move |_k: &String, m: &Arc<dyn MosaicRead>| weight(document_bytes(m)))
            .time_to_live(settings.ttl)
            .build();
        let lookups = Cache::builder()
            .max_capacity(budget_kib)
            .weigher(move |k: &String, v: &Arc<Vec<String>>| {
                weight(k.len() as u64 + v.iter().map(|a| a.len() as u64 + 24).sum::<u64>())
            })
            .time_to_live(settings.ttl)
            .build();
        MosaicCache {
            settings,
            backends: backend::Backends::default(),
            mosaics,
            lookups,
        }
    }

    /// This cache opening mosaics through `backends` (their clients, budgets and proxy).
    pub fn with_backends(mut self, backends: backend::Backends) -> MosaicCache {
        self.backends = backends;
        self
    }

    /// The backends this cache opens mosaics through.
    pub fn backends(&self) -> &backend::Backends {
        &self.backends
    }

    /// The settings in force.
    pub fn settings(&self) -> CacheSettings {
        self.settings
    }

    /// Opens `uri`, reusing a cached copy younger than the TTL. Errors are not cached.
    pub async fn open(&self, uri: &str) -> Result<Arc<dyn MosaicRead>> {
        if self.settings.disabled {
            return self.backends.open(uri).await;
        }
        self.mosaics
            .try_get_with(uri.to_string(), self.backends.open(uri))
            .await
            .map_err(Error::from)
    }

    /// Opens a STAC search as a mosaic, reusing a cached one younger than the TTL (key:
    /// [`backend::StacSearch::cache_key`]). Concurrent opens of one search wait for the same
    /// search; failures (a page answering 500, an empty search) are not cached.
    #[cfg(feature = "stac")]
    pub async fn open_stac(&self, search: &backend::StacSearch) -> Result<Arc<dyn MosaicRead>> {
        if self.settings.disabled {
            return self.backends.open_stac(search).await;
        }
        self.mosaics
            .try_get_with(
                format!("stac\n{}", search.cache_key()),
                self.backends.open_stac(search),
            )
            .await
            .map_err(Error::from)
    }

    /// Answers a look-up on an opened mosaic, reusing a cached answer younger than the TTL.
    /// The key holds the opened instance, so a re-read mosaic never answers from stale entries.
    pub async fn lookup(
        &self,
        mosaic: &Arc<dyn MosaicRead>,
        lookup: &Lookup,
        opts: &LookupOptions,
    ) -> Result<Arc<Vec<String>>> {
        if self.settings.disabled {
            return mosaic.lookup(lookup, opts).await.map(Arc::new);
        }
        let instance = Arc::as_ptr(mosaic) as *const () as usize;
        let key = format!(
            "{}|{instance:x}|{lookup:?}|{}|{}|{:?}",
            mosaic.uri(),
            opts.reverse,
            opts.tms.as_ref().map(|t| t.id()).unwrap_or(""),
            opts.coord_crs
        );
        self.lookups
            .try_get_with(key, async {
                mosaic.lookup(lookup, opts).await.map(Arc::new)
            })
            .await
            .map_err(Error::from)
    }

    /// Forgets a cached mosaic (after writing it, for instance).
    pub async fn invalidate(&self, uri: &str) {
        self.mosaics.invalidate(uri).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> CacheSettings {
        CacheSettings::from_lookup(|k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn env_parsing_is_boolean() {
        assert!(!settings(&[]).disabled);
        assert!(!settings(&[("COGEO_MOSAIC_CACHE_DISABLE", "false")]).disabled);
        assert!(!settings(&[("COGEO_MOSAIC_CACHE_DISABLE", "0")]).disabled);
        assert!(settings(&[("COGEO_MOSAIC_CACHE_DISABLE", "TRUE")]).disabled);
        assert!(!settings(&[("COGEO_MOSAIC_CACHE_DISABLE", "maybe")]).disabled);
        let s = settings(&[
            ("COGEO_MOSAIC_CACHE_TTL", "5"),
            ("COGEO_MOSAIC_CACHE_MAXSIZE", "7"),
        ]);
        assert_eq!((s.ttl, s.max_size), (Duration::from_secs(5), 7));
        assert!(settings(&[("COGEO_MOSAIC_CACHE_TTL", "0")]).disabled);
    }

    /// Documents weigh what they hold: one larger than `MOSAIC_CACHE_MAX_BYTES` is not kept,
    /// small ones are, up to the byte budget.
    #[tokio::test]
    async fn the_cache_is_bounded_in_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let big: serde_json::Map<String, serde_json::Value> = (0..4000)
            .map(|i: u32| {
                // Base-4 digits of i: distinct quadkeys of zoom 7.
                let qk: String = (0..7)
                    .rev()
                    .map(|d| char::from(b'0' + ((i >> (2 * d)) & 3) as u8))
                    .collect();
                (qk, serde_json::json!([format!("asset-{i:0>40}.tif")]))
            })
            .collect();
        let big_doc =
            serde_json::json!({"mosaicjson": "0.0.3", "minzoom": 7, "maxzoom": 9, "tiles": big});
        let big_path = dir.path().join("big.json");
        std::fs::write(&big_path, big_doc.to_string()).unwrap();
        let small_path = dir.path().join("small.json");
        std::fs::write(
            &small_path,
            br#"{"mosaicjson":"0.0.3","minzoom":1,"maxzoom":2,"tiles":{"0":["a"]}}"#,
        )
        .unwrap();
        let cache = MosaicCache::new(settings(&[("MOSAIC_CACHE_MAX_BYTES", "65536")]));
        let big_uri = big_path.to_str().unwrap();
        let a = cache.open(big_uri).await.unwrap();
        cache.mosaics.run_pending_tasks().await;
        let b = cache.open(big_uri).await.unwrap();
        assert!(!Arc::ptr_eq(&a, &b), "a document over the budget was kept");
        let small_uri = small_path.to_str().unwrap();
        let c = cache.open(small_uri).await.unwrap();
        cache.mosaics.run_pending_tasks().await;
        assert!(Arc::ptr_eq(&c, &cache.open(small_uri).await.unwrap()));
    }

    #[tokio::test]
    async fn cached_until_invalidated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        std::fs::write(
            &path,
            br#"{"mosaicjson":"0.0.3","minzoom":1,"maxzoom":2,"tiles":{"0":["a"]}}"#,
        )
        .unwrap();
        let uri = path.to_str().unwrap();
        let cache = MosaicCache::new(settings(&[]));
        let a = cache.open(uri).await.unwrap();
        std::fs::write(
            &path,
            br#"{"mosaicjson":"0.0.3","minzoom":1,"maxzoom":2,"tiles":{"0":["b"]}}"#,
        )
        .unwrap();
        let b = cache.open(uri).await.unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        cache.invalidate(uri).await;
        let c = cache.open(uri).await.unwrap();
        assert_eq!(c.document().tiles["0"], ["b"]);
        // Look-ups are cached per opened instance.
        let lookup = Lookup::Point { lon: 0.0, lat: 0.0 };
        let first = cache
            .lookup(&c, &lookup, &LookupOptions::default())
            .await
            .unwrap();
        let again = cache
            .lookup(&c, &lookup, &LookupOptions::default())
            .await
            .unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        let off = MosaicCache::new(settings(&[("COGEO_MOSAIC_CACHE_DISABLE", "yes")]));
        assert!(!Arc::ptr_eq(
            &off.open(uri).await.unwrap(),
            &off.open(uri).await.unwrap()
        ));
        let missing = cache.open("/no/such.json").await.unwrap_err();
        assert!(matches!(missing.root(), crate::Error::NotFound { .. }));
    }
}
