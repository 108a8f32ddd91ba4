//! The process environment as the library sees it, read once at the edges.
//!
//! Nothing else in the crate reads an environment variable: binaries call
//! [`Settings::from_env`] in `main` and hand the result (or what is built from it, such as
//! [`crate::backend::Backends`]) down; tests build [`Settings::from_pairs`] instead.
//!
//! | variable | used for |
//! |---|---|
//! | `AWS_*` | S3 stores (object_store's `AmazonS3ConfigKey` names: `AWS_ENDPOINT_URL(_S3)`, `AWS_REGION`, `AWS_ALLOW_HTTP`, credentials…) |
//! | `GOOGLE_*`, `SERVICE_ACCOUNT` | GCS stores (`GOOGLE_SERVICE_ACCOUNT_KEY`…) |
//! | `AZURE_*` | Azure Blob stores (`AZURE_STORAGE_USE_EMULATOR`, `AZURE_STORAGE_CONNECTION_STRING`…) |
//! | `COGEO_MOSAIC_CACHE_*`, `MOSAIC_CACHE_MAX_BYTES` | [`crate::cache::CacheSettings`] |
//! | `MOSAIC_CONCURRENCY` | asset reads in flight per tile ([`Settings::concurrency`]) |
//!
//! The DynamoDB client is configured by the AWS SDK's own loader (`aws_config`), which reads
//! the standard AWS variables when the client is first built.

use std::collections::BTreeMap;

/// A snapshot of the environment variables the library understands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    vars: BTreeMap<String, String>,
}

/// Prefixes of the variables a [`Settings`] keeps.
const PREFIXES: &[&str] = &["AWS_", "GOOGLE_", "AZURE_", "COGEO_MOSAIC_", "MOSAIC_"];

impl Settings {
    /// The process environment (only the variables listed in the module documentation).
    pub fn from_env() -> Settings {
        Settings::from_pairs(
            std::env::vars().chain(
                std::env::var("SERVICE_ACCOUNT").map(|v| ("SERVICE_ACCOUNT".to_string(), v)),
            ),
        )
    }

    /// Settings from explicit pairs (tests, embedding).
    ///
    /// ```
    /// let s = mosaic::settings::Settings::from_pairs([("MOSAIC_CONCURRENCY", "4")]);
    /// assert_eq!(s.concurrency(), 4);
    /// ```
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Settings
    where
        K: Into<String>,
        V: Into<String>,
    {
        let vars = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .filter(|(k, _)| k == "SERVICE_ACCOUNT" || PREFIXES.iter().any(|p| k.starts_with(p)))
            .collect();
        Settings { vars }
    }

    /// These settings with `key` set to `value`.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Settings {
        self.vars.insert(key.into(), value.into());
        self
    }

    /// The value of `key`, trimmed; `None` when unset or blank.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .get(key)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// Every variable whose name starts with `prefix`, as set.
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.vars
            .range(prefix.to_string()..)
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Asset reads in flight per tile: `MOSAIC_CONCURRENCY`, else 10.
    pub fn concurrency(&self) -> usize {
        self.get("MOSAIC_CONCURRENCY")
            .and_then(|v| v.parse().ok())
            .filter(|n| *n > 0)
            .unwrap_or(10)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_known_prefixes_and_trims() {
        let s = Settings::from_pairs([
            ("AWS_REGION", " eu-west-1 "),
            ("AWS_ALLOW_HTTP", "true"),
            ("HOME", "/root"),
            ("MOSAIC_CONCURRENCY", "zero"),
            ("AZURE_STORAGE_USE_EMULATOR", ""),
        ]);
        assert_eq!(s.get("AWS_REGION"), Some("eu-west-1"));
        assert_eq!(s.get("HOME"), None);
        assert_eq!(s.get("AZURE_STORAGE_USE_EMULATOR"), None);
        assert_eq!(s.concurrency(), 10);
        let aws: Vec<_> = s.with_prefix("AWS_").map(|(k, _)| k).collect();
        assert_eq!(aws, ["AWS_ALLOW_HTTP", "AWS_REGION"]);
    }
}
