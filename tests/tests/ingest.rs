//! The `ingest` function against real local services: COGs in S3 (moto), read by GDAL
//! through `/vsis3/`, their events applied to a DynamoDB (moto) or SQLite tile index.
//!
//! The reference is cogeo-mosaic's own mosaic of a COG list built in one go (the reference
//! set's `mosaics/calls_cogs.json` entry with the most quadkeys): a mosaic started from the
//! first COG and fed the others one S3 event at a time must end up with exactly its tiles.

use ingest::{Config, Ingest};
use mosaic::Error;
use mosaic::backend::{self, Backends, Position};
use mosaic_integration_tests::ingest_fixture::*;
use mosaic_integration_tests::{require_services, run_id, workspace_bin};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_events_build_the_index_cogeo_mosaic_builds_in_one_go() {
    require_services();
    let prefix = upload_cogs().await;
    let uri = format!("dynamodb:///ingest-{}:rgb", run_id());
    start_mosaic(&uri, &prefix).await;
    let mut config = Config::new(&uri);
    config.position = Position::Last; // the reference lists assets in input order
    let ingest = Ingest::new(config, &Backends::from_env()).unwrap();

    for cog in &cogs()[1..] {
        let answer = ingest
            .handle(s3_notification("ObjectCreated:Put", &key(&prefix, cog)))
            .await
            .unwrap();
        let outcome = &answer["outcomes"][0];
        assert_eq!(outcome["asset"], asset(&prefix, cog), "{answer}");
        assert!(outcome["quadkeys"].as_u64().unwrap() > 0, "{answer}");
    }
    let expected = reference_tiles(&prefix, cogs());
    assert_eq!(expected.len(), case().reference.tiles.len());
    assert_eq!(stored_tiles(&uri).await, expected);
    let doc = backend::open(&uri).await.unwrap().document();
    assert_eq!(
        doc.version,
        format!("1.0.{}", cogs().len() - 1),
        "one metadata commit per object"
    );
    let reference = &case().reference;
    for (got, want) in doc.bounds.iter().zip(reference.bounds) {
        assert!(
            (got - want).abs() < 1e-9,
            "{:?} vs {:?}",
            doc.bounds,
            reference.bounds
        );
    }

    // Lambda delivers at least once: a replayed event changes no tile.
    let gone = &cogs()[cogs().len() / 2];
    ingest
        .handle(s3_notification("ObjectCreated:Put", &key(&prefix, gone)))
        .await
        .unwrap();
    assert_eq!(stored_tiles(&uri).await, expected);

    // A deleted COG leaves every quadkey; quadkeys it alone covered disappear.
    let listing = expected
        .values()
        .filter(|a| a.contains(&asset(&prefix, gone)))
        .count();
    let answer = ingest
        .handle(s3_notification("ObjectRemoved:Delete", &key(&prefix, gone)))
        .await
        .unwrap();
    assert_eq!(answer["outcomes"][0]["quadkeys"], listing);
    let without: Vec<String> = cogs().iter().filter(|c| *c != gone).cloned().collect();
    assert_eq!(stored_tiles(&uri).await, reference_tiles(&prefix, &without));
    let again = ingest
        .handle(s3_notification("ObjectRemoved:Delete", &key(&prefix, gone)))
        .await
        .unwrap();
    assert_eq!(again["outcomes"][0]["quadkeys"], 0);
    assert!(again["outcomes"][0]["skipped"].is_string(), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_batches_retry_only_the_messages_that_failed() {
    require_services();
    let prefix = upload_cogs().await;
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("sqlite:///{}:rgb", dir.path().join("index.db").display());
    start_mosaic(&uri, &prefix).await;
    let ingest = Ingest::new(Config::new(&uri), &Backends::from_env()).unwrap();

    let event = json!({"Records": [
        message("created", s3_notification("ObjectCreated:Put", &key(&prefix, &cogs()[1])).to_string()),
        message("test-event", json!({"Service": "Amazon S3", "Event": "s3:TestEvent",
                                     "Bucket": BUCKET}).to_string()),
        message("missing-object", s3_notification("ObjectCreated:Put", &key(&prefix, "gone.tif")).to_string()),
        message("garbage", "not an event".into()),
        message("via-eventbridge", eventbridge("Object Created", &key(&prefix, &cogs()[2])).to_string()),
        message("sidecar", s3_notification("ObjectCreated:Put", &key(&prefix, "sidecar.json")).to_string()),
    ]});
    let answer = ingest.handle(event).await.unwrap();
    assert_eq!(
        answer,
        // A missing COG and an unreadable body cannot be read better later (permanent:
        // logged with the key and acknowledged; a new upload sends a new event). Retryable
        // failures are tested with DynamoDB stopped (ingest_order.rs).
        json!({"batchItemFailures": []})
    );
    // Added first (the default, as cogeo-mosaic's update): compare each quadkey's set.
    assert_eq!(
        sorted_lists(stored_tiles(&uri).await),
        sorted_lists(reference_tiles(&prefix, &cogs()[..3]))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_and_missing_mosaics_are_typed_errors() {
    require_services();
    for uri in ["s3://mosaic-test/m.json", "mosaic.json", "dynamodb:///t"] {
        assert!(
            matches!(
                Ingest::new(Config::new(uri), &Backends::from_env()),
                Err(Error::InvalidInput(_) | Error::InvalidUri { .. })
            ),
            "{uri}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("sqlite:///{}:absent", dir.path().join("none.db").display());
    let ingest = Ingest::new(Config::new(&uri), &Backends::from_env()).unwrap();
    let err = ingest
        .handle(eventbridge("Object Created", "x/a.tif"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert!(matches!(
        ingest.handle(json!({"hello": "world"})).await,
        Err(Error::InvalidInput(_))
    ));
}

/// The binary outside Lambda: one event from a file, the answer on stdout, errors as the
/// CLI's exit codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_applies_an_event_file() {
    require_services();
    let prefix = upload_cogs().await;
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("sqlite:///{}:rgb", dir.path().join("index.db").display());
    start_mosaic(&uri, &prefix).await;
    let event = dir.path().join("event.json");
    std::fs::write(
        &event,
        eventbridge("Object Created", &key(&prefix, &cogs()[1])).to_string(),
    )
    .unwrap();
    let run = |mosaic_uri: Option<&str>| {
        let mut cmd = std::process::Command::new(workspace_bin("ingest"));
        cmd.arg(&event).env_remove("AWS_LAMBDA_RUNTIME_API");
        match mosaic_uri {
            Some(u) => cmd.env("MOSAIC_URI", u),
            None => cmd.env_remove("MOSAIC_URI"),
        };
        cmd.output()
            .expect("the ingest binary is built (cargo build --workspace --bins)")
    };
    let out = run(Some(&uri));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["outcomes"][0]["asset"], asset(&prefix, &cogs()[1]));
    assert!(
        stored_tiles(&uri)
            .await
            .values()
            .any(|a| a.contains(&asset(&prefix, &cogs()[1])))
    );

    let out = run(None);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("MOSAIC_URI"));
    let absent = format!("sqlite:///{}:absent", dir.path().join("index.db").display());
    let out = run(Some(&absent));
    assert_eq!(
        out.status.code(),
        Some(66),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// POSTs an invocation to the Lambda runtime API emulator and returns what Lambda would
/// answer the caller (HTTP/1.1 by hand: one request, `Connection: close`). A failed
/// invocation comes back as Lambda's `{"errorType", "errorMessage"}`.
fn invoke(event: &Value) -> Value {
    use std::io::{Read, Write};
    let url = std::env::var("MOSAIC_TEST_LAMBDA_INVOKE").expect("services env");
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let body = event.to_string();
    let mut conn = std::net::TcpStream::connect(host).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    write!(
        conn,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    // The emulator answers with a Content-Length body and closes: the rest is the payload.
    let (_, payload) = response.split_once("\r\n\r\n").unwrap();
    serde_json::from_str(payload).unwrap_or_else(|e| panic!("{e}: {response}"))
}

/// The function process; killed when the test ends, however it ends.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The binary in Lambda mode under a real Lambda runtime API (cargo-lambda's emulator,
/// started by `infra/services.sh`): `lambda_runtime`'s loop, the answers Lambda would get
/// for an SQS batch, an EventBridge event and a malformed event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_runtime_invocations() {
    require_services();
    let prefix = upload_cogs().await;
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("sqlite:///{}:rgb", dir.path().join("index.db").display());
    start_mosaic(&uri, &prefix).await;
    let _function = Running(
        std::process::Command::new(workspace_bin("ingest"))
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                std::env::var("MOSAIC_TEST_LAMBDA_RUNTIME_API").unwrap(),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
            .env("MOSAIC_URI", &uri)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let batch = json!({"Records": [
        message("ok", s3_notification("ObjectCreated:Put", &key(&prefix, &cogs()[1])).to_string()),
        message("bad", "garbage".into()),
        message("gone", s3_notification("ObjectCreated:Put", &key(&prefix, "gone.tif")).to_string()),
    ]});
    let deleted = eventbridge("Object Deleted", &key(&prefix, &cogs()[0]));
    let answers = tokio::task::spawn_blocking(move || {
        [
            invoke(&batch),
            invoke(&deleted),
            invoke(&json!({"hello": "world"})),
        ]
    })
    .await
    .unwrap();
    // A missing object and a garbage body are permanent (logged, acknowledged); retryable
    // failures (the service stopped mid-batch) are in ingest_order.rs.
    assert_eq!(answers[0], json!({"batchItemFailures": []}));
    assert!(
        answers[1]["outcomes"][0]["quadkeys"].as_u64().unwrap() > 0,
        "{}",
        answers[1]
    );
    assert_eq!(
        answers[2]["errorType"], "Permanent.InvalidInput",
        "{}",
        answers[2]
    );
    assert!(
        answers[2]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("not an S3, SQS or EventBridge event"),
        "{}",
        answers[2]
    );
    let assets: Vec<String> = stored_tiles(&uri).await.into_values().flatten().collect();
    assert!(assets.contains(&asset(&prefix, &cogs()[1])));
    assert!(!assets.contains(&asset(&prefix, &cogs()[0])));
}

/// Concurrent invocations (Lambda scales out per event) on overlapping quadkeys, each
/// event delivered twice: every COG ends up listed exactly once wherever cogeo-mosaic
/// lists it, and the metadata counts every commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_invocations_converge() {
    require_services();
    let prefix = upload_cogs().await;
    let uri = format!("dynamodb:///ingest-many-{}:rgb", run_id());
    start_mosaic(&uri, &prefix).await;
    let tasks: Vec<_> = cogs()[1..]
        .iter()
        .chain(&cogs()[1..])
        .map(|cog| {
            let (uri, event) = (
                uri.clone(),
                s3_notification("ObjectCreated:Put", &key(&prefix, cog)),
            );
            tokio::spawn(async move {
                Ingest::new(Config::new(&uri), &Backends::from_env())
                    .unwrap()
                    .handle(event)
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(
        sorted_lists(stored_tiles(&uri).await),
        sorted_lists(reference_tiles(&prefix, cogs()))
    );
    let doc = backend::open(&uri).await.unwrap().document();
    assert_eq!(doc.version, format!("1.0.{}", 2 * (cogs().len() - 1)));
}

/// The ingest artifact (scripts/package.sh) alone - copied into an empty folder, an empty
/// environment but for the way to moto - applies an S3 notification to a DynamoDB index
/// on moto, reading the COG through its own GDAL's `/vsis3/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Lambda artifacts: bash scripts/package.sh runs it"]
async fn artifact_alone_applies_an_s3_event() {
    require_services();
    let lambda_dir = std::env::var_os("MOSAIC_LAMBDA_DIR")
        .map(std::path::PathBuf::from)
        .expect("MOSAIC_LAMBDA_DIR: the artifacts' folder (bash scripts/package.sh sets it)");
    let folder = tempfile::tempdir().unwrap();
    let bin = folder.path().join("bootstrap");
    std::fs::copy(lambda_dir.join("ingest/bootstrap"), &bin).unwrap();
    let prefix = upload_cogs().await;
    let uri = format!("dynamodb:///artifact-{}:rgb", run_id());
    start_mosaic(&uri, &prefix).await;
    let event = folder.path().join("event.json");
    std::fs::write(
        &event,
        s3_notification("ObjectCreated:Put", &key(&prefix, &cogs()[1])).to_string(),
    )
    .unwrap();
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap();
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut cmd = std::process::Command::new(&bin);
    cmd.env_clear()
        .current_dir(folder.path())
        .arg(&event)
        .env("MOSAIC_URI", &uri)
        .env("AWS_S3_ENDPOINT", host)
        .env("AWS_HTTPS", "NO")
        .env("AWS_VIRTUAL_HOSTING", "FALSE");
    for k in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
        "AWS_ENDPOINT_URL",
    ] {
        if let Ok(v) = std::env::var(k) {
            cmd.env(k, v);
        }
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        answer["outcomes"][0]["quadkeys"].as_u64().unwrap() > 0,
        "{answer}"
    );
    assert!(
        stored_tiles(&uri)
            .await
            .values()
            .any(|a| a.contains(&asset(&prefix, &cogs()[1]))),
        "the COG is in the index"
    );
}
