//! Interoperability with the original: cogeo-mosaic 9.2.0 (Python, `tests/peer/cogeo_peer.py`,
//! installed by `infra/services.sh`) and this crate write mosaics into the same DynamoDB
//! server and into SQLite files, and each reads the other's with the same look-ups.
//!
//! Known upstream limits the comparison steps around (docs/compatibility.md): its DynamoDB
//! and SQLite backends raise `TypeError` on `reverse=`, and read a tile far above
//! quadkey_zoom with one request per child quadkey, so such cases are skipped on its side
//! past a fetch budget. Our side answers every case.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use mosaic::backend::{self, MosaicRead, WriteMode};
use mosaic::create::{CreateOptions, Footprint};
use mosaic::{MosaicJson, TileMatrixSet};
use mosaic_integration_tests::{
    LookupCase, case_mosaics, check_lookup_cases, lookup_cases, mosaic_name, read_bytes, refdata,
    require_services, run_id,
};
use serde_json::{Value, json};

/// Quadkeys one upstream look-up may read before the case is skipped on its side.
const PEER_FETCH_BUDGET: u64 = 256;
/// Mosaics up to this many quadkeys are compared case by case both ways; larger ones item by
/// item (their cases run against our own writes in dynamodb.rs and sqlite.rs).
const CASE_BY_CASE_MAX_TILES: usize = 500;

/// Runs the reference's commands in one process; one answer per command.
fn peer_batch(commands: &[Value]) -> Vec<Value> {
    let python = std::env::var_os("MOSAIC_TEST_PEER_PYTHON").expect(
        "MOSAIC_TEST_PEER_PYTHON is not set: `bash infra/services.sh start ENV` installs the peer",
    );
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("peer/cogeo_peer.py");
    let spec = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(spec.path(), serde_json::to_vec(commands).unwrap()).unwrap();
    let out = std::process::Command::new(python)
        .arg(script)
        .arg("batch")
        .arg(spec.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "peer: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    for (c, a) in commands.iter().zip(&answers) {
        assert!(a.get("failed").is_none(), "peer {c}: {a}");
    }
    answers
}

/// The document minus `tiles` as the reference reports it (`exclude_none`), named `name`.
fn metadata_json(doc: &MosaicJson, name: Option<&str>) -> Value {
    let mut meta = doc.clone();
    meta.tiles.clear();
    meta.extra.clear();
    if let Some(n) = name {
        meta.name = Some(n.into());
    }
    let mut v: Value = serde_json::from_slice(&meta.to_json_vec()).unwrap();
    v.as_object_mut().unwrap().remove("tiles");
    v
}

/// Where each side writes: one DynamoDB table and one SQLite file per side.
struct Stores {
    table: String,
    dir: tempfile::TempDir,
}

impl Stores {
    fn uris(&self, side: &str, name: &str) -> [String; 2] {
        let db = self.dir.path().join(format!("{side}.db"));
        [
            // One table per mosaic: moto walks a whole table for each Query.
            format!("dynamodb:///{}-{side}-{name}:{name}", self.table),
            format!("sqlite:///{}:{name}", db.display()),
        ]
    }

    fn db(&self, side: &str) -> String {
        self.dir
            .path()
            .join(format!("{side}.db"))
            .to_string_lossy()
            .into_owned()
    }
}

/// Case files of one mosaic, and their cases.
fn cases_of<'a>(cases: &'a [LookupCase], rel: &str) -> (Vec<String>, Vec<&'a LookupCase>) {
    let mine: Vec<&LookupCase> = cases.iter().filter(|c| c.mosaic == rel).collect();
    let files: BTreeSet<String> = mine.iter().map(|c| c.file.clone()).collect();
    (files.into_iter().collect(), mine)
}

/// Compares the reference's answers (from `lookups`) with the expected ones. Returns how
/// many cases it answered.
fn check_peer_answers(label: &str, answers: &Value, cases: &[&LookupCase]) -> usize {
    let mut compared = 0;
    let mut position: HashMap<&str, usize> = HashMap::new();
    for case in cases {
        let file = case.file.rsplit('/').next().unwrap();
        let i = position.entry(file).or_default();
        let answer = &answers[file][*i];
        *i += 1;
        if case.input.get("reverse").and_then(Value::as_bool) == Some(true)
            || answer.get("skipped").is_some()
        {
            continue;
        }
        match &case.expected {
            Some(expected) => assert_eq!(answer, &json!(expected), "{label} {file} {}", case.input),
            None => assert!(
                answer.get("error").is_some(),
                "{label} {file} {}",
                case.input
            ),
        }
        compared += 1;
    }
    compared
}

/// Every stored quadkey with its assets, in key order.
async fn items(mosaic: &dyn MosaicRead) -> Vec<(String, Vec<String>)> {
    let mut all = mosaic.tiles().await.unwrap();
    all.sort();
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cogeo_mosaic_and_we_read_each_others_mosaics() {
    require_services();
    let stores = Stores {
        table: format!("interop-{}", run_id()),
        dir: tempfile::tempdir().unwrap(),
    };
    let cases = lookup_cases();
    let mosaics: Vec<(String, MosaicJson)> = case_mosaics(&cases)
        .into_iter()
        .map(|rel| {
            let doc = MosaicJson::from_slice(&read_bytes(&rel)).unwrap();
            (rel, doc)
        })
        .collect();

    // Both sides write every mosaic to both backends.
    let mut commands = Vec::new();
    for (rel, doc) in &mosaics {
        let name = mosaic_name(rel);
        for uri in stores.uris("ours", &name) {
            backend::open_writer(&uri)
                .unwrap()
                .write(doc, WriteMode::Create)
                .await
                .unwrap_or_else(|e| panic!("{uri}: {e}"));
        }
        for uri in stores.uris("theirs", &name) {
            let file = refdata().join(rel).to_string_lossy().into_owned();
            commands.push(json!({"command": "write", "uri": uri, "mosaic_file": file}));
        }
    }
    // The reference reads ours: metadata, quadkeys, and the cases of the smaller mosaics.
    let mut expectations = Vec::new();
    for (rel, doc) in &mosaics {
        let name = mosaic_name(rel);
        for (k, uri) in stores.uris("ours", &name).into_iter().enumerate() {
            commands.push(json!({"command": "info", "uri": uri}));
            // SQLite names a mosaic after its table, DynamoDB keeps the document's name.
            let stored_name = (k == 1).then_some(name.as_str());
            expectations.push((uri.clone(), None, metadata_json(doc, stored_name)));
            if doc.tiles.len() <= CASE_BY_CASE_MAX_TILES {
                let (files, _) = cases_of(&cases, rel);
                let paths: Vec<String> = files
                    .iter()
                    .map(|f| refdata().join(f).to_string_lossy().into_owned())
                    .collect();
                commands.push(
                    json!({"command": "lookups", "uri": uri, "cases_files": paths,
                    "max_fetches": PEER_FETCH_BUDGET}),
                );
                expectations.push((uri, Some(rel.clone()), Value::Null));
            }
        }
    }
    commands.push(json!({"command": "list-sqlite", "db_path": stores.db("ours")}));
    let answers = peer_batch(&commands);
    let writes = mosaics.len() * 2;
    let mut compared = 0;
    for ((uri, rel, meta), answer) in expectations.iter().zip(&answers[writes..]) {
        match rel {
            None => {
                assert_eq!(answer["metadata"], *meta, "{uri}");
                let (rel, doc) = mosaics
                    .iter()
                    .find(|(r, _)| uri.ends_with(&format!(":{}", mosaic_name(r))))
                    .unwrap();
                let keys: BTreeSet<&String> = doc.tiles.keys().collect();
                assert_eq!(answer["quadkeys"], json!(keys), "{uri} ({rel})");
            }
            Some(rel) => {
                let (_, mine) = cases_of(&cases, rel);
                compared += check_peer_answers(uri, answer, &mine);
            }
        }
    }
    eprintln!(
        "cogeo-mosaic answered {compared} look-up cases from our DynamoDB and SQLite mosaics"
    );
    assert!(compared > 500, "{compared}");
    let names: Vec<String> = mosaics.iter().map(|(r, _)| mosaic_name(r)).collect();
    let mut listed: Vec<String> = serde_json::from_value(answers.last().unwrap().clone()).unwrap();
    listed.sort();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(listed, sorted);

    // We read theirs: same metadata, same items as our own writes; the smaller mosaics
    // answer every case (reverse included) as the reference did.
    let mut ours_cases = Vec::new();
    for (rel, doc) in &mosaics {
        let name = mosaic_name(rel);
        let [ours, theirs] = [stores.uris("ours", &name), stores.uris("theirs", &name)];
        for (o, t) in ours.iter().zip(&theirs) {
            let a = backend::open(o).await.unwrap();
            let b = backend::open(t).await.unwrap();
            assert_eq!(*a.document(), *b.document(), "{t}");
            assert_eq!(b.document().bounds, doc.bounds, "{t}");
            assert_eq!(items(a.as_ref()).await, items(b.as_ref()).await, "{t}");
        }
        if doc.tiles.len() <= CASE_BY_CASE_MAX_TILES {
            ours_cases.extend(cases_of(&cases, rel).1.into_iter().cloned());
        }
    }
    for k in 0..2 {
        let (failures, total) = check_lookup_cases(&ours_cases, |rel| {
            let uri = stores.uris("theirs", &mosaic_name(&rel))[k].clone();
            async move { backend::open(&uri).await.unwrap() as Arc<dyn MosaicRead> }
        })
        .await;
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert!(total > 500);
    }
    assert_eq!(
        backend::list_mosaics(&format!("sqlite:///{}", stores.db("theirs")))
            .await
            .unwrap()
            .len(),
        names.len()
    );
}

/// Our update of a mosaic the reference wrote (new quadkeys included) is what it reads back;
/// every optional field, a non-default TMS and non-ASCII text survive both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_and_rich_metadata_cross_over() {
    require_services();
    let stores = Stores {
        table: format!("interop-rich-{}", run_id()),
        dir: tempfile::tempdir().unwrap(),
    };
    let mut opts = CreateOptions::new(4, 8);
    opts.tilematrixset = Some(TileMatrixSet::builtin("WorldMercatorWGS84Quad").unwrap());
    opts.quadkey_zoom = Some(5);
    opts.colormap = Some(
        [(1, [255, 0, 0, 255]), (7, [0, 0, 255, 128])]
            .into_iter()
            .collect(),
    );
    opts.layers = Some(
        json!({"ndvi": {"expression": "(b2-b1)/(b2+b1)", "rescale": "-1,1"}})
            .as_object()
            .unwrap()
            .clone(),
    );
    opts.description = Some("Zürich – 東京 \u{1F600}".into());
    opts.attribution = Some("<a href=\"x\">©</a>".into());
    opts.asset_type = Some("COG".into());
    opts.data_type = Some("uint8".into());
    opts.asset_prefix = Some("s3://b/".into());
    opts.name = Some("rich".into());
    let rich = MosaicJson::from_footprints(
        &[
            Footprint::from_bbox("s3://b/é.tif", [10.0, 40.0, 14.0, 44.0]),
            Footprint::from_bbox("s3://b/x.tif", [12.0, 42.0, 16.0, 46.0]),
        ],
        &opts,
    )
    .unwrap();
    let file = stores.dir.path().join("rich.json");
    std::fs::write(&file, rich.to_json_vec()).unwrap();
    let mut commands = Vec::new();
    for uri in stores.uris("theirs", "rich") {
        commands.push(json!({"command": "write", "uri": uri, "mosaic_file": file}));
    }
    peer_batch(&commands);

    let mut commands = Vec::new();
    let mut updated = Vec::new();
    for uri in stores.uris("theirs", "rich") {
        let read = backend::open(&uri).await.unwrap();
        assert_eq!(read.document().tms(), rich.tms(), "{uri}");
        assert_eq!(read.document().colormap, rich.colormap, "{uri}");
        assert_eq!(read.document().description, rich.description, "{uri}");
        assert_eq!(read.document().layers, rich.layers, "{uri}");
        let before: BTreeSet<String> = read.quadkeys().await.unwrap().into_iter().collect();
        // One new area (new quadkeys) and one asset already there (not duplicated).
        let after = backend::open_writer(&uri)
            .unwrap()
            .update(
                &[
                    Footprint::from_bbox("s3://b/new.tif", [-60.0, -30.0, -58.0, -28.0]),
                    Footprint::from_bbox("s3://b/x.tif", [12.0, 42.0, 16.0, 46.0]),
                ],
                &Default::default(),
            )
            .await
            .unwrap();
        assert_eq!(after.version, "1.0.1");
        let now: BTreeSet<String> = backend::open(&uri)
            .await
            .unwrap()
            .quadkeys()
            .await
            .unwrap()
            .into_iter()
            .collect();
        assert!(now.len() > before.len(), "{uri}: no quadkey inserted");
        commands.push(json!({"command": "info", "uri": uri}));
        updated.push((uri, after, now));
    }
    let answers = peer_batch(&commands);
    for ((uri, after, keys), answer) in updated.iter().zip(&answers) {
        let name = uri.starts_with("sqlite").then_some("rich");
        assert_eq!(answer["metadata"], metadata_json(after, name), "{uri}");
        assert_eq!(answer["quadkeys"], json!(keys), "{uri}");
    }
}
