//! `ingest`: S3 object events keep a mosaic's tile index up to date.
//!
//! A COG written to the bucket is added to every quadkey its footprint covers; a COG deleted
//! from it is removed from every quadkey that lists it. The index is a DynamoDB or SQLite
//! mosaic ([`mosaic::backend::TileIndex`]): each quadkey edit is one atomic, idempotent write,
//! so concurrent invocations and Lambda's at-least-once retries never lose or duplicate an
//! asset. The metadata (version, bounds) is committed once per object.
//!
//! Three event shapes are accepted, as AWS delivers them:
//! - an S3 notification invoking the function directly (`Records[].eventSource = "aws:s3"`,
//!   keys URL-encoded with `+` for spaces);
//! - S3 notifications through SQS (`Records[].eventSource = "aws:sqs"`, the notification in
//!   `body`; `s3:TestEvent` bodies are skipped). The answer is an SQS partial-batch response:
//!   only the messages that failed are retried;
//! - EventBridge (`source = "aws.s3"`, `Object Created` / `Object Deleted`, keys not encoded).
//!
//! ```no_run
//! # async fn run() -> mosaic::Result<()> {
//! let backends = mosaic::backend::Backends::from_env(); // once per process, in `main`
//! let ingest = ingest::Ingest::new(ingest::Config::new("dynamodb:///mosaics:cogs"), &backends)?;
//! let answer = ingest.handle(serde_json::json!({
//!     "source": "aws.s3", "detail-type": "Object Created",
//!     "detail": {"bucket": {"name": "cogs"}, "object": {"key": "2026/scene.tif"}}
//! })).await?;
//! # Ok(()) }
//! ```

mod events;

use std::sync::Once;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse};
use mosaic::backend::{self, Applied, Backends, Position, Sequencer, TileIndex};
use mosaic::create::UpdateOptions;
use mosaic::dataset::{configure_gdal_defaults, dataset_info};
use mosaic::run_blocking;
use mosaic::{Error, Result};
use serde::Serialize;
use serde_json::{Value, json};

pub use events::{Change, Invocation, ObjectEvent, parse_invocation};

/// What the function indexes and how (read from the environment in Lambda).
#[derive(Debug, Clone)]
pub struct Config {
    /// The mosaic whose index is kept: `dynamodb://[{region}]/{table}:{mosaic}` or
    /// `sqlite:///{file.db}:{mosaic}` (`MOSAIC_URI`). It must exist: create it with
    /// `mosaic create … -o URI` first, which fixes its zooms, quadkey zoom and TMS.
    pub mosaic_uri: String,
    /// Object keys indexed, by case-insensitive suffix (`MOSAIC_INGEST_SUFFIXES`, comma
    /// separated, default `.tif,.tiff`); other objects are skipped. Empty: every key.
    pub suffixes: Vec<String>,
    /// Where a new asset goes in a quadkey's list (`MOSAIC_ADD_FIRST`, default `true`, as
    /// cogeo-mosaic's `update`).
    pub position: Position,
    /// The mosaic the first event creates when `mosaic_uri` holds none (`MOSAIC_CREATE`,
    /// JSON: `{"minzoom": 8, "maxzoom": 14, "quadkey_zoom": 8, "tilematrixset":
    /// "WebMercatorQuad"}`); `None`: a missing mosaic is an error.
    pub create: Option<CreateSpec>,
}

/// The mosaic [`Config::create`] makes: zooms, quadkey zoom, TMS (a built-in id).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSpec {
    /// Minimum zoom.
    pub minzoom: u8,
    /// Maximum zoom.
    pub maxzoom: u8,
    /// Quadkey zoom (default minzoom).
    #[serde(default)]
    pub quadkey_zoom: Option<u8>,
    /// Built-in TMS id (default WebMercatorQuad, not embedded).
    #[serde(default)]
    pub tilematrixset: Option<String>,
}

impl CreateSpec {
    /// Parses `MOSAIC_CREATE`'s JSON.
    pub fn parse(text: &str) -> Result<CreateSpec> {
        let spec: CreateSpec = serde_json::from_str(text)
            .map_err(|e| Error::InvalidInput(format!("MOSAIC_CREATE: {e}")))?;
        spec.document()?;
        Ok(spec)
    }

    /// The empty mosaic it describes. Its bounds start as the whole world (cogeo-mosaic's
    /// default; updates only grow bounds, so they stay so: docs/compatibility.md).
    pub fn document(&self) -> Result<mosaic::MosaicJson> {
        if self.minzoom > self.maxzoom || self.maxzoom > 30 {
            return Err(Error::InvalidInput(format!(
                "MOSAIC_CREATE: zooms {}..{} need minzoom <= maxzoom <= 30",
                self.minzoom, self.maxzoom
            )));
        }
        let mut doc = mosaic::MosaicJson::new(self.minzoom, self.maxzoom);
        doc.quadkey_zoom = self.quadkey_zoom;
        if let Some(t) = &self.tilematrixset {
            let tms = mosaic::TileMatrixSet::builtin(t)?;
            tms.ensure_quadtree()?;
            doc.tilematrixset = Some(tms);
        }
        Ok(doc)
    }
}

impl Config {
    /// Defaults for `mosaic_uri`.
    pub fn new(mosaic_uri: impl Into<String>) -> Config {
        Config {
            mosaic_uri: mosaic_uri.into(),
            suffixes: vec![".tif".into(), ".tiff".into()],
            position: Position::First,
            create: None,
        }
    }

    /// From `MOSAIC_URI` (required), `MOSAIC_INGEST_SUFFIXES` and `MOSAIC_ADD_FIRST`.
    pub fn from_env() -> Result<Config> {
        let uri = std::env::var("MOSAIC_URI")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| {
                Error::InvalidInput(
                    "MOSAIC_URI is not set (dynamodb://[{region}]/{table}:{mosaic} or sqlite:///{file.db}:{mosaic})"
                        .into(),
                )
            })?;
        let mut cfg = Config::new(uri.trim());
        if let Ok(s) = std::env::var("MOSAIC_INGEST_SUFFIXES") {
            cfg.suffixes = s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
        }
        if let Ok(v) = std::env::var("MOSAIC_CREATE")
            && !v.trim().is_empty()
        {
            cfg.create = Some(CreateSpec::parse(&v)?);
        }
        if let Ok(v) = std::env::var("MOSAIC_ADD_FIRST") {
            cfg.position = match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Position::First,
                "false" | "0" | "no" => Position::Last,
                other => {
                    return Err(Error::InvalidInput(format!(
                        "MOSAIC_ADD_FIRST must be true or false, not `{other}`"
                    )));
                }
            };
        }
        Ok(cfg)
    }

    fn indexes(&self, key: &str) -> bool {
        let key = key.to_ascii_lowercase();
        self.suffixes.is_empty()
            || self
                .suffixes
                .iter()
                .any(|s| key.ends_with(&s.to_ascii_lowercase()))
    }
}

/// What one event did to the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// The asset (`s3://bucket/key`).
    pub asset: String,
    /// Created or removed.
    pub change: Change,
    /// Quadkeys edited: those the footprint covers (created; a replay edits them again
    /// without changing them) or those that listed the asset (removed).
    pub quadkeys: usize,
    /// Why nothing was done, when nothing was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// The per-event log line: what was done, what it cost.
fn log_outcome(uri: &str, o: &Outcome, sequencer: Option<&str>, requests: u64, ms: u128) {
    tracing::info!(
        key = %o.asset,
        mosaic = uri,
        change = ?o.change,
        sequencer = sequencer.unwrap_or(""),
        quadkeys = o.quadkeys,
        requests,
        ms = ms as u64,
        skipped = o.skipped.as_deref().unwrap_or(""),
        "applied"
    );
}

/// The handler: a configured index and what to do with events.
#[derive(Debug)]
pub struct Ingest {
    config: Config,
    index: Box<dyn TileIndex>,
    /// Where the mosaic is created when [`Config::create`] is set.
    writer: Option<Box<dyn mosaic::backend::MosaicWrite>>,
    /// Requests of the process's DynamoDB clients (for the per-event log).
    stats: Option<std::sync::Arc<mosaic::backend::dynamodb::RequestStats>>,
}

impl Ingest {
    /// Opens the index of `config.mosaic_uri` through the process's `backends` (nothing is
    /// read until the first event). A document mosaic (file, S3 JSON…) is refused: it has
    /// no per-quadkey items to edit.
    pub fn new(config: Config, backends: &Backends) -> Result<Ingest> {
        let index = backends.open_index(&config.mosaic_uri)?;
        let writer = match config.create {
            Some(_) => Some(backends.open_writer(&config.mosaic_uri)?),
            None => None,
        };
        Ok(Ingest {
            config,
            index,
            writer,
            stats: Some(backends.dynamodb_stats()),
        })
    }

    /// The mosaic's metadata; with [`Config::create`], a missing mosaic is created first
    /// (by whichever of concurrent first events gets there: the others find it).
    async fn metadata(&self) -> Result<mosaic::MosaicJson> {
        match self.index.metadata().await {
            Err(e) if matches!(e.root(), Error::NotFound { .. }) => {
                let (Some(spec), Some(writer)) = (&self.config.create, &self.writer) else {
                    return Err(e);
                };
                match writer
                    .write(&spec.document()?, mosaic::backend::WriteMode::Create)
                    .await
                {
                    Ok(()) => {
                        tracing::info!(mosaic = %self.config.mosaic_uri, "created (MOSAIC_CREATE)")
                    }
                    Err(e) if matches!(e.root(), Error::AlreadyExists { .. }) => {}
                    Err(e) => return Err(e),
                }
                self.index.metadata().await
            }
            other => other,
        }
    }

    /// Applies one event to the index, in S3's order: an event older (by its sequencer)
    /// than the newest applied to the same key is acknowledged and ignored.
    pub async fn apply(&self, event: &ObjectEvent) -> Result<Outcome> {
        let asset = event.asset();
        let mut outcome = Outcome {
            asset: asset.clone(),
            change: event.change,
            quadkeys: 0,
            skipped: None,
        };
        if !self.config.indexes(&event.key) {
            outcome.skipped = Some(format!("key suffix not one of {:?}", self.config.suffixes));
            return Ok(outcome);
        }
        let sequencer = event
            .sequencer
            .as_deref()
            .map(Sequencer::parse)
            .transpose()?;
        let meta = self.metadata().await?;
        let applied = match event.change {
            Change::Created => {
                let (tms, url) = (meta.tms(), asset.clone());
                let info = run_blocking("footprint", move || {
                    configure_gdal_once();
                    dataset_info(&url, &tms)
                })
                .await?;
                let footprint = info.footprint();
                let read = meta.clone();
                let additions = run_blocking("additions", move || {
                    read.additions(&[footprint], &UpdateOptions::default())
                })
                .await?;
                if additions.tiles.is_empty() {
                    outcome.skipped =
                        Some("the footprint covers no tile of the mosaic's zooms".into());
                    return Ok(outcome);
                }
                let quadkeys: Vec<String> = additions.tiles.keys().cloned().collect();
                outcome.quadkeys = quadkeys.len();
                backend::apply_created(
                    self.index.as_ref(),
                    &meta,
                    &asset,
                    &quadkeys,
                    self.config.position,
                    Some(additions.bounds),
                    sequencer.as_ref(),
                )
                .await?
            }
            Change::Removed => {
                backend::apply_removed(self.index.as_ref(), &meta, &asset, sequencer.as_ref())
                    .await?
            }
        };
        match applied {
            Applied::Edited(n) => {
                if event.change == Change::Removed {
                    outcome.quadkeys = n;
                    if n == 0 {
                        outcome.skipped = Some("not listed in the mosaic".into());
                    }
                }
            }
            Applied::Stale => {
                outcome.quadkeys = 0;
                outcome.skipped = Some("older than the newest event applied to this key".into());
            }
            Applied::Superseded => {
                outcome.skipped = Some("a newer event on this key arrived meanwhile".into());
            }
        }
        Ok(outcome)
    }

    /// Applies every event in order. The first error stops the run.
    async fn apply_all(&self, events: &[ObjectEvent]) -> Result<Vec<Outcome>> {
        let mut outcomes = Vec::with_capacity(events.len());
        for e in events {
            let started = std::time::Instant::now();
            let before = self.stats.as_ref().map_or(0, |s| s.total());
            let o = self.apply(e).await.inspect_err(|err| {
                tracing::error!(
                    key = %e.asset(),
                    mosaic = %self.config.mosaic_uri,
                    change = ?e.change,
                    retryable = err.retryable(),
                    error_type = %err.lambda_error_type(),
                    "{err}"
                );
            })?;
            let requests = self.stats.as_ref().map_or(0, |s| s.total()) - before;
            log_outcome(
                &self.config.mosaic_uri,
                &o,
                e.sequencer.as_deref(),
                requests,
                started.elapsed().as_millis(),
            );
            outcomes.push(o);
        }
        Ok(outcomes)
    }

    /// Handles one invocation.
    ///
    /// - Direct S3 / EventBridge: `{"outcomes": [...]}`; the first failure is the
    ///   invocation's error (Lambda's asynchronous retries then apply; every edit is
    ///   idempotent, so a retry repeats no harm), its class in the reported error type.
    /// - SQS: `{"batchItemFailures": [{"itemIdentifier": id}, ...]}` naming each message
    ///   that failed with a **retryable** error ([`Error::retryable`]: throttling, a 5xx, a
    ///   timeout, a COG that could not be read yet), so only those return to the queue and,
    ///   past the queue's `maxReceiveCount`, reach its dead-letter queue. A message that
    ///   failed **permanently** (an unreadable body, an event of another shape, a key outside
    ///   the mosaic's rules, a missing mosaic) is logged with its error type and dropped:
    ///   retrying it could only fail again. The event source mapping needs
    ///   `ReportBatchItemFailures`.
    pub async fn handle(&self, event: Value) -> Result<Value> {
        match parse_invocation(event)? {
            Invocation::Direct(events) => {
                let outcomes = self.apply_all(&events).await?;
                Ok(json!({ "outcomes": outcomes }))
            }
            Invocation::Sqs(messages) => {
                let mut response = SqsBatchResponse::default();
                for (id, events) in messages {
                    let applied = match events {
                        Ok(events) => self.apply_all(&events).await.map(|_| ()),
                        Err(e) => Err(e),
                    };
                    match applied {
                        Ok(()) => {}
                        Err(e) if e.retryable() => {
                            tracing::warn!(message = %id, error_type = %e.lambda_error_type(), "{e}; back to the queue");
                            let mut failure = BatchItemFailure::default();
                            failure.item_identifier = id;
                            response.batch_item_failures.push(failure);
                        }
                        Err(e) => {
                            tracing::error!(message = %id, error_type = %e.lambda_error_type(), "{e}; dropped");
                        }
                    }
                }
                serde_json::to_value(response)
                    .map_err(|e| Error::Internal(format!("batch response: {e}")))
            }
        }
    }
}

fn configure_gdal_once() {
    static ONCE: Once = Once::new();
    ONCE.call_once(configure_gdal_defaults);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_filter_is_case_insensitive_and_empty_means_all() {
        let mut c = Config::new("sqlite:///x.db:m");
        assert!(c.indexes("a/B.TIF") && c.indexes("c.tiff") && !c.indexes("a.json"));
        c.suffixes.clear();
        assert!(c.indexes("a.json"));
    }

    #[test]
    fn document_mosaics_are_refused() {
        for uri in ["s3://b/m.json", "m.json", "https://x/m.json"] {
            assert!(
                matches!(
                    Ingest::new(Config::new(uri), &Backends::default()),
                    Err(Error::InvalidInput(_)) | Err(Error::ReadOnly { .. })
                ),
                "{uri}"
            );
        }
    }
}
