//! Fixtures of the ingest tests: a COG case of the reference set uploaded to S3 (moto), the
//! mosaic it starts from, the events S3 and EventBridge send.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use mosaic::MosaicJson;
use mosaic::backend::{self, MosaicUri, WriteMode, stores::Stores};
use mosaic::create::CreateOptions;
use mosaic::dataset::get_footprints;
use object_store::ObjectStoreExt;
use serde_json::{Value, json};

use crate::{read_bytes, read_json, run_id};

/// The bucket the COGs are uploaded to.
pub const BUCKET: &str = "mosaic-test";

/// A reference mosaic of COGs and its COG list (paths relative to the reference set).
#[derive(Debug)]
pub struct Case {
    /// cogeo-mosaic's mosaic of the COGs.
    pub reference: MosaicJson,
    /// The COGs, relative to the reference set.
    pub cogs: Vec<String>,
}

/// The COG case of the reference set.
pub fn case() -> &'static Case {
    static CASE: OnceLock<Case> = OnceLock::new();
    CASE.get_or_init(|| {
        let calls = read_json("mosaics/calls_cogs.json");
        let (reference, source) = calls["mosaics"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| Some((e["mosaic"].as_str()?, e["source"].as_str()?)))
            .map(|(m, src)| (MosaicJson::from_slice(&read_bytes(m)).unwrap(), src))
            .max_by_key(|(doc, _)| doc.tiles.len())
            .expect("a COG mosaic in calls_cogs.json");
        let cogs: Vec<String> = String::from_utf8(read_bytes(source))
            .unwrap()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        assert!(cogs.len() >= 3, "{source}: the tests need three COGs");
        Case { reference, cogs }
    })
}

/// The COGs of [`case`].
pub fn cogs() -> &'static [String] {
    &case().cogs
}

/// The COGs uploaded under a fresh prefix holding a space (S3 notifications encode it as
/// `+`). Returns the prefix.
pub async fn upload_cogs() -> String {
    let prefix = format!("{}/rgb cogs", run_id());
    for cog in cogs() {
        let uri = asset(&prefix, cog);
        let (store, path) = Stores::new(mosaic::settings::Settings::from_env())
            .resolve(&uri, &MosaicUri::parse(&uri).unwrap())
            .unwrap();
        store.put(&path, read_bytes(cog).into()).await.unwrap();
    }
    prefix
}

/// The S3 URL of `cog` under `prefix`.
pub fn asset(prefix: &str, cog: &str) -> String {
    format!("s3://{BUCKET}/{prefix}/{cog}")
}

/// The object key of `cog` under `prefix`.
pub fn key(prefix: &str, cog: &str) -> String {
    format!("{prefix}/{cog}")
}

/// What `mosaic create` would store from the first COG alone, with the reference's zooms.
pub async fn start_mosaic(uri: &str, prefix: &str) {
    let reference = &case().reference;
    let url = asset(prefix, &cogs()[0]);
    let tms = reference.tms();
    let info =
        tokio::task::spawn_blocking(move || get_footprints(&[url], &tms, 1, None).pop().unwrap())
            .await
            .unwrap()
            .unwrap();
    let mut opts = CreateOptions::new(reference.minzoom, reference.maxzoom);
    opts.quadkey_zoom = reference.quadkey_zoom;
    opts.tilematrixset = reference.tilematrixset.clone();
    let doc = MosaicJson::from_footprints(&[info.footprint()], &opts).unwrap();
    backend::open_writer(uri)
        .unwrap()
        .write(&doc, WriteMode::Create)
        .await
        .unwrap();
}

/// cogeo-mosaic's mosaic of the COGs, its assets renamed to their S3 URLs, restricted to
/// `keep`, quadkeys left empty dropped.
pub fn reference_tiles(prefix: &str, keep: &[String]) -> BTreeMap<String, Vec<String>> {
    case()
        .reference
        .tiles
        .iter()
        .filter_map(|(qk, assets)| {
            let kept: Vec<String> = assets
                .iter()
                .filter(|a| keep.contains(a))
                .map(|a| asset(prefix, a))
                .collect();
            (!kept.is_empty()).then(|| (qk.clone(), kept))
        })
        .collect()
}

/// The tiles stored at `uri`.
pub async fn stored_tiles(uri: &str) -> BTreeMap<String, Vec<String>> {
    backend::open(uri)
        .await
        .unwrap()
        .tiles()
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// Each quadkey's assets sorted: for comparisons where only membership matters.
pub fn sorted_lists(tiles: BTreeMap<String, Vec<String>>) -> BTreeMap<String, Vec<String>> {
    tiles
        .into_iter()
        .map(|(qk, mut assets)| {
            assets.sort();
            (qk, assets)
        })
        .collect()
}

/// An S3 notification as S3 sends it (key form-encoded).
pub fn s3_notification(event_name: &str, key: &str) -> Value {
    json!({"Records": [s3_record(event_name, BUCKET, &key.replace(' ', "+"))]})
}

/// One record of an S3 notification for `raw_key` (already form-encoded, as S3 sends it).
pub fn s3_record(event_name: &str, bucket: &str, raw_key: &str) -> Value {
    json!({
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-25T06:00:00.000Z", "eventName": event_name,
        "userIdentity": {"principalId": "AWS:TEST"},
        // Every notification S3 sends has these (aws_lambda_events requires them).
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "1", "x-amz-id-2": "2"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "ingest",
               "bucket": {"name": bucket, "ownerIdentity": {"principalId": "A"},
                          "arn": format!("arn:aws:s3:::{bucket}")},
               "object": {"key": raw_key, "size": 1, "eTag": "0", "sequencer": "0A"}}
    })
}

/// An EventBridge S3 event (key as it is) with `sequencer`.
pub fn eventbridge_at(detail_type: &str, key: &str, sequencer: &str) -> Value {
    let mut e = eventbridge(detail_type, key);
    e["detail"]["object"]["sequencer"] = json!(sequencer);
    e
}

/// An EventBridge S3 event (key as it is).
pub fn eventbridge(detail_type: &str, key: &str) -> Value {
    eventbridge_in(detail_type, BUCKET, key)
}

/// An EventBridge S3 event on `bucket` (key as it is).
pub fn eventbridge_in(detail_type: &str, bucket: &str, key: &str) -> Value {
    json!({"version": "0", "id": "1", "detail-type": detail_type, "source": "aws.s3",
           "account": "1", "time": "2026-11-25T06:00:00Z", "region": "us-east-1",
           "resources": [format!("arn:aws:s3:::{bucket}")],
           "detail": {"version": "0", "bucket": {"name": bucket},
                      "object": {"key": key, "size": 1}, "reason": "PutObject"}})
}

/// One SQS message as Lambda's SQS event source delivers it.
pub fn message(id: &str, body: String) -> Value {
    json!({"messageId": id, "receiptHandle": "r", "body": body, "attributes": {},
           "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
           "eventSourceARN": "arn:aws:sqs:us-east-1:1:ingest", "awsRegion": "us-east-1"})
}
