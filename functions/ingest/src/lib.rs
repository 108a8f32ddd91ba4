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
//! let ingest = ingest::Ingest::new(ingest::Config::new("dynamodb:///mosaics:cogs"))?;
//! let answer = ingest.handle(serde_json::json!({
//!     "source": "aws.s3", "detail-type": "Object Created",
//!     "detail": {"bucket": {"name": "cogs"}, "object": {"key": "2026/scene.tif"}}
//! })).await?;
//! # Ok(()) }
//! ```

use std::sync::Once;

use mosaic::backend::{self, Position, TileIndex};
use mosaic::create::UpdateOptions;
use mosaic::dataset::{configure_gdal_defaults, dataset_info};
use mosaic::run_blocking;
use mosaic::{Error, Result};
use serde::Serialize;
use serde_json::{Value, json};

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
}

impl Config {
    /// Defaults for `mosaic_uri`.
    pub fn new(mosaic_uri: impl Into<String>) -> Config {
        Config {
            mosaic_uri: mosaic_uri.into(),
            suffixes: vec![".tif".into(), ".tiff".into()],
            position: Position::First,
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

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// `ObjectCreated:*` / `Object Created`.
    Created,
    /// `ObjectRemoved:*`, `LifecycleExpiration:*` / `Object Deleted`.
    Removed,
}

/// One object event, whatever its envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEvent {
    /// Created or removed.
    pub change: Change,
    /// The bucket.
    pub bucket: String,
    /// The object key, decoded.
    pub key: String,
}

impl ObjectEvent {
    /// The asset as the mosaic lists it: `s3://{bucket}/{key}`.
    pub fn asset(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// A parsed invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// S3 notifications invoking the function directly, or EventBridge.
    Direct(Vec<ObjectEvent>),
    /// An SQS batch: per message, its id and its events (or why its body was unreadable).
    Sqs(Vec<(String, std::result::Result<Vec<ObjectEvent>, String>)>),
}

/// Recognises the event shapes AWS delivers; anything else is [`Error::InvalidInput`].
pub fn parse_invocation(event: &Value) -> Result<Invocation> {
    if event.get("detail-type").is_some() {
        return eventbridge_event(event).map(|e| Invocation::Direct(e.into_iter().collect()));
    }
    let Some(records) = event.get("Records").and_then(Value::as_array) else {
        return Err(Error::InvalidInput(
            "not an S3, SQS or EventBridge event (no `Records` and no `detail-type`)".into(),
        ));
    };
    if records.iter().all(|r| r["eventSource"] == "aws:sqs") && !records.is_empty() {
        let messages = records
            .iter()
            .map(|r| {
                let id = r["messageId"].as_str().unwrap_or_default().to_string();
                (id, sqs_body_events(&r["body"]))
            })
            .collect();
        return Ok(Invocation::Sqs(messages));
    }
    s3_notification_events(records).map(Invocation::Direct)
}

/// The events of an SQS message body: an S3 notification, an EventBridge event forwarded
/// to SQS, or S3's `s3:TestEvent` (no events).
fn sqs_body_events(body: &Value) -> std::result::Result<Vec<ObjectEvent>, String> {
    let text = body.as_str().ok_or("the message has no text body")?;
    let v: Value = serde_json::from_str(text).map_err(|e| format!("body is not JSON: {e}"))?;
    if v["Event"] == "s3:TestEvent" {
        return Ok(Vec::new());
    }
    let parsed = if v.get("detail-type").is_some() {
        eventbridge_event(&v).map(|e| e.into_iter().collect())
    } else if let Some(records) = v.get("Records").and_then(Value::as_array) {
        s3_notification_events(records)
    } else {
        Err(Error::InvalidInput(
            "body is neither an S3 notification nor an EventBridge event".into(),
        ))
    };
    parsed.map_err(|e| e.to_string())
}

fn s3_notification_events(records: &[Value]) -> Result<Vec<ObjectEvent>> {
    let mut events = Vec::new();
    for r in records {
        if r["eventSource"] != "aws:s3" {
            return Err(Error::InvalidInput(format!(
                "record of `{}`, expected aws:s3",
                r["eventSource"].as_str().unwrap_or("an unknown source")
            )));
        }
        let name = r["eventName"].as_str().unwrap_or_default();
        let change = if name.starts_with("ObjectCreated:") {
            Change::Created
        } else if name.starts_with("ObjectRemoved:") || name.starts_with("LifecycleExpiration:") {
            Change::Removed
        } else {
            tracing::info!("skipping S3 event `{name}`");
            continue;
        };
        let (Some(bucket), Some(key)) = (
            r["s3"]["bucket"]["name"].as_str(),
            r["s3"]["object"]["key"].as_str(),
        ) else {
            return Err(Error::InvalidInput(format!(
                "S3 record `{name}` without s3.bucket.name or s3.object.key"
            )));
        };
        events.push(ObjectEvent {
            change,
            bucket: bucket.to_string(),
            key: decode_notification_key(key)?,
        });
    }
    Ok(events)
}

/// S3 notification keys are form-encoded: `+` is a space, `%XX` a byte of UTF-8.
fn decode_notification_key(key: &str) -> Result<String> {
    let spaced = key.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|e| Error::InvalidInput(format!("object key `{key}` is not UTF-8: {e}")))
}

/// EventBridge's S3 events; other detail types are skipped (`None`).
fn eventbridge_event(v: &Value) -> Result<Option<ObjectEvent>> {
    if v["source"] != "aws.s3" {
        return Err(Error::InvalidInput(format!(
            "EventBridge event from `{}`, expected aws.s3",
            v["source"].as_str().unwrap_or("an unknown source")
        )));
    }
    let kind = v["detail-type"].as_str().unwrap_or_default();
    let change = match kind {
        "Object Created" => Change::Created,
        "Object Deleted" => Change::Removed,
        _ => {
            tracing::info!("skipping EventBridge event `{kind}`");
            return Ok(None);
        }
    };
    let d = &v["detail"];
    match (d["bucket"]["name"].as_str(), d["object"]["key"].as_str()) {
        (Some(bucket), Some(key)) => Ok(Some(ObjectEvent {
            change,
            bucket: bucket.into(),
            key: key.into(),
        })),
        _ => Err(Error::InvalidInput(format!(
            "EventBridge `{kind}` without detail.bucket.name or detail.object.key"
        ))),
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

/// The handler: a configured index and what to do with events.
#[derive(Debug)]
pub struct Ingest {
    config: Config,
    index: Box<dyn TileIndex>,
}

impl Ingest {
    /// Opens the index of `config.mosaic_uri` (nothing is read until the first event). A
    /// document mosaic (file, S3 JSON…) is refused: it has no per-quadkey items to edit.
    pub fn new(config: Config) -> Result<Ingest> {
        let index = backend::open_index(&config.mosaic_uri)?;
        Ok(Ingest { config, index })
    }

    /// Applies one event to the index.
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
        match event.change {
            Change::Created => {
                let meta = self.index.metadata().await?;
                let (tms, url) = (meta.tms(), asset.clone());
                let info = run_blocking("footprint", move || {
                    configure_gdal_once();
                    dataset_info(&url, &tms)
                })
                .await?;
                let footprint = info.footprint();
                let additions = run_blocking("additions", move || {
                    meta.additions(&[footprint], &UpdateOptions::default())
                })
                .await?;
                if additions.tiles.is_empty() {
                    outcome.skipped =
                        Some("the footprint covers no tile of the mosaic's zooms".into());
                    return Ok(outcome);
                }
                outcome.quadkeys = additions.tiles.len();
                backend::apply_additions(self.index.as_ref(), &additions, self.config.position)
                    .await?;
            }
            Change::Removed => {
                outcome.quadkeys = backend::withdraw_asset(self.index.as_ref(), &asset).await?;
                if outcome.quadkeys == 0 {
                    outcome.skipped = Some("not listed in the mosaic".into());
                }
            }
        }
        Ok(outcome)
    }

    /// Applies every event in order. The first error stops the run.
    async fn apply_all(&self, events: &[ObjectEvent]) -> Result<Vec<Outcome>> {
        let mut outcomes = Vec::with_capacity(events.len());
        for e in events {
            let o = self.apply(e).await.inspect_err(|err| {
                tracing::error!("{} {:?}: {err}", e.asset(), e.change);
            })?;
            tracing::info!(asset = %o.asset, change = ?o.change, quadkeys = o.quadkeys, skipped = ?o.skipped, "applied");
            outcomes.push(o);
        }
        Ok(outcomes)
    }

    /// Handles one invocation.
    ///
    /// - Direct S3 / EventBridge: `{"outcomes": [...]}`; any failure is an error, so Lambda
    ///   retries the event (every edit is idempotent, so a retry repeats no harm).
    /// - SQS: `{"batchItemFailures": [{"itemIdentifier": id}, ...]}` naming each message
    ///   whose events did not all apply (unreadable bodies included), so only those return
    ///   to the queue (the event source mapping needs `ReportBatchItemFailures`).
    pub async fn handle(&self, event: Value) -> Result<Value> {
        match parse_invocation(&event)? {
            Invocation::Direct(events) => {
                let outcomes = self.apply_all(&events).await?;
                Ok(json!({ "outcomes": outcomes }))
            }
            Invocation::Sqs(messages) => {
                let mut failures = Vec::new();
                for (id, events) in messages {
                    let applied = match events {
                        Ok(events) => self.apply_all(&events).await.map(|_| ()),
                        Err(reason) => {
                            tracing::error!("SQS message {id}: {reason}");
                            Err(Error::InvalidInput(reason))
                        }
                    };
                    if applied.is_err() {
                        failures.push(json!({ "itemIdentifier": id }));
                    }
                }
                Ok(json!({ "batchItemFailures": failures }))
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

    fn s3_record(name: &str, key: &str) -> Value {
        json!({"eventSource": "aws:s3", "eventName": name,
               "s3": {"bucket": {"name": "b"}, "object": {"key": key}}})
    }

    #[test]
    fn notification_keys_are_form_decoded() {
        let ev =
            json!({"Records": [s3_record("ObjectCreated:Put", "a+b/%C3%A9t%C3%A9+1%2B1.tif")]});
        let Invocation::Direct(events) = parse_invocation(&ev).unwrap() else {
            panic!("direct")
        };
        assert_eq!(events[0].key, "a b/été 1+1.tif");
        assert_eq!(events[0].asset(), "s3://b/a b/été 1+1.tif");
    }

    #[test]
    fn event_names_map_to_changes_and_others_are_skipped() {
        let ev = json!({"Records": [
            s3_record("ObjectCreated:CompleteMultipartUpload", "a.tif"),
            s3_record("ObjectRemoved:DeleteMarkerCreated", "b.tif"),
            s3_record("LifecycleExpiration:Delete", "c.tif"),
            s3_record("ObjectRestore:Completed", "d.tif"),
        ]});
        let Invocation::Direct(events) = parse_invocation(&ev).unwrap() else {
            panic!("direct")
        };
        let changes: Vec<_> = events.iter().map(|e| (e.change, e.key.as_str())).collect();
        assert_eq!(
            changes,
            [
                (Change::Created, "a.tif"),
                (Change::Removed, "b.tif"),
                (Change::Removed, "c.tif")
            ]
        );
    }

    #[test]
    fn sqs_bodies_are_parsed_per_message() {
        let notification = json!({"Records": [s3_record("ObjectCreated:Put", "x.tif")]});
        let ev = json!({"Records": [
            {"eventSource": "aws:sqs", "messageId": "1", "body": notification.to_string()},
            {"eventSource": "aws:sqs", "messageId": "2", "body": "{\"Event\":\"s3:TestEvent\"}"},
            {"eventSource": "aws:sqs", "messageId": "3", "body": "not json"},
        ]});
        let Invocation::Sqs(messages) = parse_invocation(&ev).unwrap() else {
            panic!("sqs")
        };
        assert_eq!(messages[0].1.as_ref().unwrap()[0].key, "x.tif");
        assert!(messages[1].1.as_ref().unwrap().is_empty());
        assert!(messages[2].1.is_err());
    }

    #[test]
    fn eventbridge_keys_are_taken_as_they_are() {
        let ev = json!({"source": "aws.s3", "detail-type": "Object Deleted",
                        "detail": {"bucket": {"name": "b"}, "object": {"key": "a+b.tif"}}});
        assert_eq!(
            parse_invocation(&ev).unwrap(),
            Invocation::Direct(vec![ObjectEvent {
                change: Change::Removed,
                bucket: "b".into(),
                key: "a+b.tif".into()
            }])
        );
    }

    #[test]
    fn other_events_are_invalid_input() {
        for ev in [
            json!({"hello": 1}),
            json!({"Records": [{"eventSource": "aws:sns"}]}),
            json!({"source": "aws.ec2", "detail-type": "x"}),
            json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}]}),
        ] {
            assert!(
                matches!(parse_invocation(&ev), Err(Error::InvalidInput(_))),
                "{ev}"
            );
        }
    }

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
                    Ingest::new(Config::new(uri)),
                    Err(Error::InvalidInput(_)) | Err(Error::ReadOnly { .. })
                ),
                "{uri}"
            );
        }
    }
}
