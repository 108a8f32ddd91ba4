//! Fuzzing of `ingest::parse_invocation` with property tests: arbitrary JSON, and the event
//! shapes AWS delivers (S3 notifications, SQS batches of them or of EventBridge events,
//! EventBridge) mutated field by field. Nothing panics; what is parsed is what was sent
//! (S3's form-encoded keys decode back to the key uploaded, one SQS answer per message).
//! 256 cases per target; `PROPTEST_CASES` overrides.

mod fuzz_common;

use fuzz_common::{apply_edits, config, edit, json_string, json_value};
use ingest::{Change, Invocation, ObjectEvent, parse_invocation};
use mosaic_integration_tests::ingest_fixture::{eventbridge_in, s3_record};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

/// S3's encoding of keys in notifications: `application/x-www-form-urlencoded` (spaces as
/// `+`, everything outside `[A-Za-z0-9*._-]` as `%XX`).
fn s3_encode(key: &str) -> String {
    let mut out = String::new();
    for b in key.bytes() {
        match b {
            b' ' => out.push('+'),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'.' | b'_' | b'-' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn sqs_message(id: &str, body: String) -> Value {
    json!({"messageId": id, "receiptHandle": "r", "body": body, "attributes": {},
           "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
           "eventSourceARN": "arn:aws:sqs:us-east-1:1:ingest", "awsRegion": "us-east-1"})
}

const S3_NAMES: &[&str] = &[
    "ObjectCreated:Put",
    "ObjectCreated:CompleteMultipartUpload",
    "ObjectCreated:",
    "ObjectRemoved:Delete",
    "ObjectRemoved:DeleteMarkerCreated",
    "LifecycleExpiration:Delete",
    "ObjectRestore:Completed",
    "objectcreated:put",
    "",
];

const EB_TYPES: &[&str] = &[
    "Object Created",
    "Object Deleted",
    "Object Restore Completed",
    "object created",
    "",
];

fn change_of_s3(name: &str) -> Option<Change> {
    if name.starts_with("ObjectCreated:") {
        Some(Change::Created)
    } else if name.starts_with("ObjectRemoved:") || name.starts_with("LifecycleExpiration:") {
        Some(Change::Removed)
    } else {
        None
    }
}

fn change_of_eb(kind: &str) -> Option<Change> {
    match kind {
        "Object Created" => Some(Change::Created),
        "Object Deleted" => Some(Change::Removed),
        _ => None,
    }
}

/// Object keys: anything S3 allows (any Unicode), and the characters its encoding treats
/// specially.
fn object_key() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => "\\PC{1,24}",
        1 => "[ +%/a-z0-9é]{1,16}",
        1 => json_string(),
    ]
}

/// One well-formed event as AWS sends it, and the events it must parse into.
#[derive(Debug, Clone)]
struct Sent {
    event: Value,
    expected: Expected,
}

#[derive(Debug, Clone)]
enum Expected {
    Direct(Vec<ObjectEvent>),
    /// Per message: its id and its events.
    Sqs(Vec<(String, Vec<ObjectEvent>)>),
}

fn s3_notification() -> impl Strategy<Value = (Value, Vec<ObjectEvent>)> {
    prop::collection::vec(
        (
            prop::sample::select(S3_NAMES),
            "[a-z0-9.-]{1,12}",
            object_key(),
        ),
        1..4,
    )
    .prop_map(|records| {
        let mut expected = Vec::new();
        let mut sent = Vec::new();
        for (name, bucket, key) in records {
            sent.push(s3_record(name, &bucket, &s3_encode(&key)));
            if let Some(change) = change_of_s3(name) {
                expected.push(ObjectEvent {
                    change,
                    bucket,
                    key,
                    sequencer: Some("0A".into()),
                });
            }
        }
        (json!({"Records": sent}), expected)
    })
}

fn eventbridge_event() -> impl Strategy<Value = (Value, Vec<ObjectEvent>)> {
    (
        prop::sample::select(EB_TYPES),
        "[a-z0-9.-]{1,12}",
        object_key(),
    )
        .prop_map(|(kind, bucket, key)| {
            let expected = change_of_eb(kind)
                .map(|change| ObjectEvent {
                    change,
                    bucket: bucket.clone(),
                    key: key.clone(),
                    sequencer: None,
                })
                .into_iter()
                .collect();
            // EventBridge keys are not encoded.
            (eventbridge_in(kind, &bucket, &key), expected)
        })
}

fn sent_event() -> impl Strategy<Value = Sent> {
    let body = prop_oneof![
        3 => s3_notification(),
        2 => eventbridge_event(),
        1 => Just((json!({"Service": "Amazon S3", "Event": "s3:TestEvent"}), Vec::new())),
    ];
    prop_oneof![
        2 => s3_notification().prop_map(|(event, ev)| Sent { event, expected: Expected::Direct(ev) }),
        1 => eventbridge_event().prop_map(|(event, ev)| Sent { event, expected: Expected::Direct(ev) }),
        2 => prop::collection::vec(("[a-z0-9-]{1,8}", body), 1..4).prop_map(|msgs| {
            let records: Vec<Value> = msgs
                .iter()
                .map(|(id, (body, _))| sqs_message(id, body.to_string()))
                .collect();
            Sent {
                event: json!({"Records": records}),
                expected: Expected::Sqs(
                    msgs.into_iter().map(|(id, (_, ev))| (id, ev)).collect(),
                ),
            }
        }),
    ]
}

const EVENT_KEYS: &[&str] = &[
    "Records",
    "detail-type",
    "source",
    "detail",
    "bucket",
    "object",
    "name",
    "key",
    "eventSource",
    "eventName",
    "s3",
    "body",
    "messageId",
    "Event",
];

/// Invariants of any parse, whatever the input.
fn check_any(event: &Value) -> Result<Option<Invocation>, TestCaseError> {
    let r = parse_invocation(event.clone());
    let inv = match r {
        Ok(inv) => inv,
        Err(e) => {
            prop_assert!(!e.to_string().is_empty());
            return Ok(None);
        }
    };
    let records = event.get("Records").and_then(Value::as_array);
    match &inv {
        Invocation::Direct(events) => {
            if event.get("detail-type").is_some() {
                prop_assert!(events.len() <= 1);
            } else {
                prop_assert!(events.len() <= records.map_or(0, Vec::len));
            }
            for e in events {
                let _ = e.asset();
            }
        }
        Invocation::Sqs(messages) => {
            // One answer per message, ids as sent: the partial-batch reply depends on it.
            let records = records.ok_or_else(|| TestCaseError::fail("SQS without Records"))?;
            prop_assert_eq!(messages.len(), records.len());
            for ((id, _), r) in messages.iter().zip(records) {
                prop_assert_eq!(id.as_str(), r["messageId"].as_str().unwrap_or_default());
            }
        }
    }
    Ok(Some(inv))
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn events_arbitrary_json(event in json_value(5)) {
        check_any(&event)?;
    }

    /// Well-formed events parse into exactly the objects sent (keys decoded back).
    #[test]
    fn events_as_sent(sent in sent_event()) {
        let inv = check_any(&sent.event)?
            .ok_or_else(|| TestCaseError::fail(format!("refused: {:?}", parse_invocation(sent.event.clone()))))?;
        match (inv, sent.expected) {
            (Invocation::Direct(got), Expected::Direct(want)) => prop_assert_eq!(got, want),
            (Invocation::Sqs(got), Expected::Sqs(want)) => {
                prop_assert_eq!(got.len(), want.len());
                for ((gid, gev), (wid, wev)) in got.into_iter().zip(want) {
                    prop_assert_eq!(gid, wid);
                    prop_assert_eq!(gev.ok(), Some(wev));
                }
            }
            (got, want) => prop_assert!(false, "parsed {got:?}, sent {want:?}"),
        }
    }

    /// Real shapes, mutated: fields removed, renamed, replaced with arbitrary JSON, also
    /// inside SQS bodies.
    #[test]
    fn events_mutated(
        sent in sent_event(),
        edits in prop::collection::vec(edit(EVENT_KEYS), 1..5),
        body_edits in prop::collection::vec(edit(EVENT_KEYS), 0..3),
        raw_key in prop::option::of(prop_oneof![
            Just("%".to_string()), Just("%E9".to_string()), Just("%C3".to_string()),
            Just("%ZZ".to_string()), Just("%%".to_string()), Just("+%2B+".to_string()),
            "[%+a-fA-F0-9]{1,12}",
        ]),
    ) {
        let mut event = sent.event.clone();
        // Mutate the SQS bodies (strings of JSON) too.
        if let Some(records) = event["Records"].as_array_mut() {
            for r in records {
                if let Some(body) = r["body"].as_str().and_then(|b| serde_json::from_str::<Value>(b).ok()) {
                    let mut body = apply_edits(&body, &body_edits);
                    if let Some(k) = &raw_key
                        && let Some(inner) = body.get_mut("Records").and_then(Value::as_array_mut)
                    {
                        for ir in inner {
                            if ir["s3"]["object"]["key"].is_string() {
                                ir["s3"]["object"]["key"] = json!(k);
                            }
                        }
                    }
                    r["body"] = json!(body.to_string());
                } else if let Some(k) = &raw_key
                    && r["s3"]["object"]["key"].is_string()
                {
                    r["s3"]["object"]["key"] = json!(k);
                }
            }
        }
        let event = apply_edits(&event, &edits);
        check_any(&event)?;
    }
}
