//! The invocations AWS delivers, read through `aws_lambda_events`' types: S3 notifications
//! (direct or in SQS message bodies), EventBridge's S3 events (direct or through SQS).

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::s3::{S3Event, S3EventRecord};
use aws_lambda_events::event::sqs::SqsEvent;
use mosaic::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    /// The event's sequencer (`s3.object.sequencer`, EventBridge `detail.object.sequencer`
    /// or `detail.sequencer`): orders the events of one key.
    pub sequencer: Option<String>,
}

impl ObjectEvent {
    /// The asset as the mosaic lists it: `s3://{bucket}/{key}`.
    pub fn asset(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// A parsed invocation.
#[derive(Debug)]
pub enum Invocation {
    /// S3 notifications invoking the function directly, or EventBridge.
    Direct(Vec<ObjectEvent>),
    /// An SQS batch: per message, its id and its events (or why its body is unreadable).
    Sqs(Vec<(String, Result<Vec<ObjectEvent>>)>),
}

/// The `detail` of EventBridge's S3 events (only what we read of it).
#[derive(Debug, Deserialize)]
struct S3Detail {
    bucket: Named,
    object: Keyed,
    sequencer: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Named {
    name: String,
}

#[derive(Debug, Deserialize)]
struct Keyed {
    key: String,
    sequencer: Option<String>,
}

/// `value` as an event type, or [`Error::InvalidInput`] naming what it was read as.
fn typed<T: serde::de::DeserializeOwned>(value: Value, what: &str) -> Result<T> {
    serde_json::from_value(value).map_err(|e| Error::InvalidInput(format!("not {what}: {e}")))
}

/// Recognises the event shapes AWS delivers; anything else is [`Error::InvalidInput`].
pub fn parse_invocation(event: Value) -> Result<Invocation> {
    if event.get("detail-type").is_some() {
        return eventbridge_event(event).map(|e| Invocation::Direct(e.into_iter().collect()));
    }
    let Some(records) = event.get("Records").and_then(Value::as_array) else {
        return Err(Error::InvalidInput(
            "not an S3, SQS or EventBridge event (no `Records` and no `detail-type`)".into(),
        ));
    };
    if !records.is_empty() && records.iter().all(|r| r["eventSource"] == "aws:sqs") {
        let batch: SqsEvent = typed(event, "an SQS event")?;
        let messages = batch
            .records
            .into_iter()
            .map(|m| {
                let id = m.message_id.unwrap_or_default();
                (id, sqs_body_events(m.body.as_deref()))
            })
            .collect();
        return Ok(Invocation::Sqs(messages));
    }
    s3_notification_events(event).map(Invocation::Direct)
}

/// The events of an SQS message body: an S3 notification, an EventBridge event forwarded
/// to SQS, or S3's `s3:TestEvent` (no events).
fn sqs_body_events(body: Option<&str>) -> Result<Vec<ObjectEvent>> {
    let text = body.ok_or_else(|| Error::InvalidInput("the message has no text body".into()))?;
    let v: Value = serde_json::from_str(text)
        .map_err(|e| Error::InvalidInput(format!("body is not JSON: {e}")))?;
    if v["Event"] == "s3:TestEvent" {
        return Ok(Vec::new());
    }
    if v.get("detail-type").is_some() {
        eventbridge_event(v).map(|e| e.into_iter().collect())
    } else if v.get("Records").is_some() {
        s3_notification_events(v)
    } else {
        Err(Error::InvalidInput(
            "body is neither an S3 notification nor an EventBridge event".into(),
        ))
    }
}

fn s3_notification_events(event: Value) -> Result<Vec<ObjectEvent>> {
    let event: S3Event = typed(event, "an S3 notification")?;
    let mut events = Vec::new();
    for r in event.records {
        if let Some(e) = s3_record_event(r)? {
            events.push(e);
        }
    }
    Ok(events)
}

/// One notification record; other event names are skipped (`None`).
fn s3_record_event(r: S3EventRecord) -> Result<Option<ObjectEvent>> {
    if r.event_source.as_deref() != Some("aws:s3") {
        return Err(Error::InvalidInput(format!(
            "record of `{}`, expected aws:s3",
            r.event_source.as_deref().unwrap_or("an unknown source")
        )));
    }
    let name = r.event_name.unwrap_or_default();
    let change = if name.starts_with("ObjectCreated:") {
        Change::Created
    } else if name.starts_with("ObjectRemoved:") || name.starts_with("LifecycleExpiration:") {
        Change::Removed
    } else {
        tracing::info!("skipping S3 event `{name}`");
        return Ok(None);
    };
    let sequencer = r.s3.object.sequencer;
    let (Some(bucket), Some(key)) = (r.s3.bucket.name, r.s3.object.key) else {
        return Err(Error::InvalidInput(format!(
            "S3 record `{name}` without s3.bucket.name or s3.object.key"
        )));
    };
    Ok(Some(ObjectEvent {
        change,
        bucket,
        key: decode_notification_key(&key)?,
        sequencer,
    }))
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
fn eventbridge_event(v: Value) -> Result<Option<ObjectEvent>> {
    let event: EventBridgeEvent<Value> = typed(v, "an EventBridge event")?;
    if event.source != "aws.s3" {
        return Err(Error::InvalidInput(format!(
            "EventBridge event from `{}`, expected aws.s3",
            event.source
        )));
    }
    let kind = event.detail_type.as_str();
    let change = match kind {
        "Object Created" => Change::Created,
        "Object Deleted" => Change::Removed,
        _ => {
            tracing::info!("skipping EventBridge event `{kind}`");
            return Ok(None);
        }
    };
    let detail: S3Detail = serde_json::from_value(event.detail).map_err(|_| {
        Error::InvalidInput(format!(
            "EventBridge `{kind}` without detail.bucket.name or detail.object.key"
        ))
    })?;
    Ok(Some(ObjectEvent {
        change,
        bucket: detail.bucket.name,
        key: detail.object.key,
        sequencer: detail.object.sequencer.or(detail.sequencer),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A notification record with every field S3 sends.
    fn s3_record(name: &str, key: &str) -> Value {
        json!({"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
               "eventTime": "2026-11-25T06:00:00.000Z", "eventName": name,
               "userIdentity": {"principalId": "AWS:TEST"},
               "requestParameters": {"sourceIPAddress": "127.0.0.1"},
               "responseElements": {},
               "s3": {"s3SchemaVersion": "1.0", "configurationId": "ingest",
                      "bucket": {"name": "b", "arn": "arn:aws:s3:::b"},
                      "object": {"key": key, "size": 1}}})
    }

    fn direct(ev: Value) -> Vec<ObjectEvent> {
        match parse_invocation(ev).unwrap() {
            Invocation::Direct(events) => events,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn notification_keys_are_form_decoded() {
        let events = direct(
            json!({"Records": [s3_record("ObjectCreated:Put", "a+b/%C3%A9t%C3%A9+1%2B1.tif")]}),
        );
        assert_eq!(events[0].key, "a b/été 1+1.tif");
        assert_eq!(events[0].asset(), "s3://b/a b/été 1+1.tif");
    }

    #[test]
    fn event_names_map_to_changes_and_others_are_skipped() {
        let events = direct(json!({"Records": [
            s3_record("ObjectCreated:CompleteMultipartUpload", "a.tif"),
            s3_record("ObjectRemoved:DeleteMarkerCreated", "b.tif"),
            s3_record("LifecycleExpiration:Delete", "c.tif"),
            s3_record("ObjectRestore:Completed", "d.tif"),
        ]}));
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
        let Invocation::Sqs(messages) = parse_invocation(ev).unwrap() else {
            panic!("sqs")
        };
        assert_eq!(messages[0].1.as_ref().unwrap()[0].key, "x.tif");
        assert!(messages[1].1.as_ref().unwrap().is_empty());
        assert!(matches!(messages[2].1, Err(Error::InvalidInput(_))));
    }

    #[test]
    fn eventbridge_keys_are_taken_as_they_are() {
        let ev = json!({"source": "aws.s3", "detail-type": "Object Deleted",
                        "detail": {"bucket": {"name": "b"}, "object": {"key": "a+b.tif"}}});
        assert_eq!(
            direct(ev),
            vec![ObjectEvent {
                change: Change::Removed,
                bucket: "b".into(),
                key: "a+b.tif".into(),
                sequencer: None,
            }]
        );
    }

    #[test]
    fn sequencers_are_read_from_every_shape() {
        let mut r = s3_record("ObjectCreated:Put", "a.tif");
        r["s3"]["object"]["sequencer"] = json!("0055AED6DCD90281E5");
        assert_eq!(
            direct(json!({"Records": [r]}))[0].sequencer.as_deref(),
            Some("0055AED6DCD90281E5")
        );
        let eb = json!({"source": "aws.s3", "detail-type": "Object Created",
                        "detail": {"bucket": {"name": "b"},
                                   "object": {"key": "a.tif", "sequencer": "0A"}}});
        assert_eq!(direct(eb)[0].sequencer.as_deref(), Some("0A"));
        let eb = json!({"source": "aws.s3", "detail-type": "Object Created",
                        "detail": {"bucket": {"name": "b"}, "object": {"key": "a.tif"},
                                   "sequencer": "0B"}});
        assert_eq!(direct(eb)[0].sequencer.as_deref(), Some("0B"));
    }

    #[test]
    fn other_events_are_invalid_input() {
        let mut no_key = s3_record("ObjectCreated:Put", "a.tif");
        no_key["s3"]["object"] = json!({});
        for ev in [
            json!({"hello": 1}),
            json!({"Records": [{"eventSource": "aws:sns"}]}),
            json!({"source": "aws.ec2", "detail-type": "x"}),
            json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}]}),
            json!({"Records": [no_key]}),
            json!({"source": "aws.s3", "detail-type": "Object Created", "detail": {}}),
        ] {
            assert!(
                matches!(parse_invocation(ev.clone()), Err(Error::InvalidInput(_))),
                "{ev}"
            );
        }
    }
}
