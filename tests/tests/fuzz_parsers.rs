//! Fuzzing of the parsers with property tests (proptest, stable Rust): MosaicJSON documents
//! (plain and gzip, arbitrary and mutated reference documents), custom TileMatrixSets,
//! mosaic URIs, STAC search pages and items, GeoJSON footprints.
//!
//! Every target asserts that nothing panics, and more: accepted documents re-serialize
//! and parse back equal, damaged gzip never yields a different document, nonsense TMS
//! values are refused, a STAC search always ends, parsed URIs hold what their scheme
//! promises. Cases per target: 256 (STAC search: 128); `PROPTEST_CASES` overrides
//! (`scripts/fuzz.sh` runs thousands).

mod fuzz_common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use fuzz_common::{
    EVIL_STRINGS, Edit, apply_edits, config, edit, evil_number, json_string, json_value, mutate,
    mutation, tokens,
};
use mosaic::backend::{MosaicUri, parse_location};
use mosaic::create::Footprint;
use mosaic::gate::{AllowList, Gate, Use, check_gdal_input};
use mosaic::mosaicjson::{gzip, is_gzip};
use mosaic::stac::{ItemAccessor, SearchOptions, footprints_from_items, item_asset, search};
use mosaic::{MemoryIndex, MosaicJson, TileMatrixSet};
use mosaic_integration_tests::refdata;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------
// Seeds

struct Corpus {
    /// Small reference documents, plain JSON bytes (some with a custom TMS added).
    plain: Vec<Vec<u8>>,
    /// The same, parsed.
    values: Vec<Value>,
    /// The reference `.json.gz` documents as stored.
    gz: Vec<Vec<u8>>,
    tokens: Vec<String>,
}

fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let dir = refdata().join("mosaics");
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        let (mut plain, mut gz) = (Vec::new(), Vec::new());
        for path in names {
            let bytes = std::fs::read(&path).unwrap();
            // The directory also holds the call manifests: keep the documents only.
            if MosaicJson::from_slice(&bytes).is_err() {
                continue;
            }
            if path.extension().is_some_and(|e| e == "gz") {
                gz.push(bytes);
            } else {
                plain.push(bytes);
            }
        }
        assert!(
            plain.len() >= 3 && !gz.is_empty(),
            "reference mosaics missing in {}",
            dir.display()
        );
        // Custom quadtree TMSs inside documents (none of the reference documents has one).
        let base: Value = serde_json::from_slice(&plain[0]).unwrap();
        for id in ["WorldMercatorWGS84Quad", "UPSArcticWGS84Quad"] {
            let mut doc = base.clone();
            doc["tilematrixset"] = tms_seed(id);
            plain.push(serde_json::to_vec(&doc).unwrap());
        }
        let values = plain
            .iter()
            .map(|b| serde_json::from_slice(b).unwrap())
            .collect();
        Corpus {
            plain,
            values,
            gz,
            tokens: tokens(),
        }
    })
}

/// A built-in TMS as JSON, its CRS written `EPSG:n`. (An `http://` CRS that a mutation
/// turns into another host would make GDAL fetch it from the network.)
fn tms_seed(id: &str) -> Value {
    let tms = TileMatrixSet::builtin(id).unwrap();
    let mut v = serde_json::to_value(&tms).unwrap();
    let uri = v["crs"].as_str().unwrap().to_string();
    let code = uri.rsplit('/').next().unwrap();
    v["crs"] = if code == "CRS84" {
        json!("OGC:CRS84")
    } else {
        json!(format!("EPSG:{code}"))
    };
    v
}

const MOSAIC_KEYS: &[&str] = &[
    "mosaicjson",
    "name",
    "description",
    "version",
    "attribution",
    "minzoom",
    "maxzoom",
    "quadkey_zoom",
    "bounds",
    "center",
    "tiles",
    "tilematrixset",
    "asset_type",
    "asset_prefix",
    "data_type",
    "colormap",
    "layers",
    "0",
    "0123",
    "01234",
    "",
];

const TMS_KEYS: &[&str] = &[
    "id",
    "title",
    "crs",
    "orderedAxes",
    "tileMatrices",
    "cellSize",
    "scaleDenominator",
    "pointOfOrigin",
    "cornerOfOrigin",
    "tileWidth",
    "tileHeight",
    "matrixWidth",
    "matrixHeight",
    "variableMatrixWidths",
    "supportedCRS",
    "topLeftCorner",
    "uri",
    "wkt",
];

/// A known field set to an edge value: arrays of the numbers and strings pydantic's lax mode
/// would take for numbers (`bounds`, `center`), objects of them (`colormap`), scalars.
fn field_edit() -> impl Strategy<Value = Edit> {
    let leaf = prop_oneof![
        3 => (0u8..=30).prop_map(|v| json!(v)),
        2 => prop::sample::select(vec!["NaN", "nan", "inf", "-inf", "Infinity", "-Infinity", "1e400", "-1e400"])
            .prop_map(|s| json!(s)),
        2 => evil_number(),
        1 => prop::sample::select(EVIL_STRINGS).prop_map(|s| json!(s)),
        1 => Just(Value::Null),
    ];
    let value = prop_oneof![
        2 => leaf.clone(),
        3 => prop::collection::vec(leaf.clone(), 3..5).prop_map(Value::Array),
        1 => prop::collection::vec(leaf.clone(), 2..6).prop_map(Value::Array),
        1 => prop::collection::vec(
            (prop::sample::select(EVIL_STRINGS), prop::collection::vec(leaf, 3..6)),
            0..3,
        )
        .prop_map(|kv| {
            let map: serde_json::Map<String, Value> =
                kv.into_iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
            Value::Object(map)
        }),
    ];
    let key = prop::sample::select(vec![
        "bounds",
        "bounds",
        "center",
        "center",
        "center",
        "minzoom",
        "maxzoom",
        "quadkey_zoom",
        "colormap",
        "colormap",
        "version",
        "name",
        "mosaicjson",
        "tiles",
        "layers",
        "asset_prefix",
        "data_type",
    ]);
    (key, value).prop_map(|(key, value)| Edit::Insert {
        path: Vec::new(),
        key: key.to_string(),
        value,
    })
}

fn fail(msg: String) -> TestCaseError {
    TestCaseError::fail(msg)
}

// ---------------------------------------------------------------------------------------
// MosaicJSON

/// What must hold of every document the parser accepts, and what a server then does with
/// it (index it, look up its center) must not panic.
fn check_doc(doc: &MosaicJson) -> Result<(), TestCaseError> {
    prop_assert!(
        doc.bounds.iter().all(|v| v.is_finite()),
        "bounds {:?}",
        doc.bounds
    );
    let center = doc
        .center
        .ok_or_else(|| fail("no center after parsing".into()))?;
    prop_assert!(
        center.lon.is_finite() && center.lat.is_finite(),
        "center {center:?} is not finite"
    );
    prop_assert!(doc.minzoom <= 30 && doc.maxzoom <= 30 && center.zoom <= 30);
    for key in doc.tiles.keys() {
        prop_assert!(
            key.len() <= 30 && key.bytes().all(|b| (b'0'..=b'3').contains(&b)),
            "tiles key {key:?} is not a quadkey"
        );
    }
    let json = doc.to_json_vec();
    let back = MosaicJson::from_slice(&json).map_err(|e| {
        fail(format!(
            "the document written does not parse back: {e}\n{}",
            String::from_utf8_lossy(&json[..json.len().min(600)])
        ))
    })?;
    prop_assert_eq!(&back, doc, "round trip changed the document");
    prop_assert_eq!(back.to_json_vec(), json, "writing is not stable");
    let gz = doc.to_bytes_for("m.json.gz");
    prop_assert!(is_gzip(&gz));
    let back = MosaicJson::from_slice(&gz).map_err(|e| fail(format!("gzip round trip: {e}")))?;
    prop_assert_eq!(&back, doc, "gzip round trip changed the document");

    let tms = doc.tms();
    for z in 0..=30 {
        let _ = tms.matrix(z);
    }
    if let Ok(index) = MemoryIndex::new(doc.clone()) {
        let _ = index.assets_for_point(center.lon, center.lat);
        for z in [doc.minzoom, doc.effective_quadkey_zoom(), doc.maxzoom] {
            let t = tms.tile(center.lon, center.lat, z);
            let _ = index.assets_for_tile(t.x, t.y, t.z);
        }
    }
    Ok(())
}

/// Parses `bytes`; accepted documents must pass [`check_doc`].
fn parse_checked(bytes: &[u8]) -> Result<Option<MosaicJson>, TestCaseError> {
    match MosaicJson::from_slice(bytes) {
        Ok(doc) => {
            check_doc(&doc)?;
            Ok(Some(doc))
        }
        Err(e) => {
            prop_assert!(!e.to_string().is_empty());
            Ok(None)
        }
    }
}

/// Plain and gzip bytes of the same text parse to the same result.
fn check_gzip_agrees(bytes: &[u8], plain: &Option<MosaicJson>) -> Result<(), TestCaseError> {
    if is_gzip(bytes) {
        return Ok(());
    }
    let zipped = MosaicJson::from_slice(&gzip(bytes)).ok();
    prop_assert_eq!(&zipped, plain, "gzip and plain parse differently");
    Ok(())
}

fn damaged_gzip() -> impl Strategy<Value = (bool, prop::sample::Index, usize, Option<u8>)> {
    (
        prop::bool::weighted(0.1),
        any::<prop::sample::Index>(),
        any::<usize>(),
        prop::option::of(any::<u8>()),
    )
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn mosaic_arbitrary_bytes(
        mut bytes in prop::collection::vec(any::<u8>(), 0..512),
        gz_magic in prop::bool::weighted(0.2),
    ) {
        if gz_magic {
            bytes.splice(0..0, [0x1f, 0x8b, 8, 0]);
        }
        let plain = parse_checked(&bytes)?;
        check_gzip_agrees(&bytes, &plain)?;
    }

    #[test]
    fn mosaic_arbitrary_json(value in json_value(4)) {
        let bytes = serde_json::to_vec(&value).unwrap();
        parse_checked(&bytes)?;
        let _ = MosaicJson::from_value(value);
    }

    #[test]
    fn mosaic_mutated_reference(
        seed in any::<prop::sample::Index>(),
        muts in prop::collection::vec(mutation(), 1..6),
    ) {
        let c = corpus();
        let bytes = mutate(&c.plain[seed.index(c.plain.len())], &muts, &c.tokens);
        let plain = parse_checked(&bytes)?;
        check_gzip_agrees(&bytes, &plain)?;
    }

    #[test]
    fn mosaic_edited_reference(
        seed in any::<prop::sample::Index>(),
        edits in prop::collection::vec(prop_oneof![2 => edit(MOSAIC_KEYS), 1 => field_edit()], 1..5),
    ) {
        let c = corpus();
        let value = apply_edits(&c.values[seed.index(c.values.len())], &edits);
        let text = serde_json::to_vec(&value).unwrap();
        let from_bytes = parse_checked(&text)?;
        // The two entry points follow the same rules.
        let from_value = MosaicJson::from_value(value).ok();
        prop_assert_eq!(&from_value, &from_bytes, "from_value and from_slice disagree");
    }

    #[test]
    fn mosaic_damaged_gzip(
        (real, seed, at, byte) in damaged_gzip(),
        muts in prop::collection::vec(mutation(), 0..2),
    ) {
        let c = corpus();
        // A real `.json.gz` reference document, or a (mutated) small one gzipped.
        let (gz, original) = if real {
            let gz = c.gz[seed.index(c.gz.len())].clone();
            let doc = MosaicJson::from_slice(&gz).unwrap();
            (gz, Some(doc))
        } else {
            let text = mutate(&c.plain[seed.index(c.plain.len())], &muts, &c.tokens);
            let doc = MosaicJson::from_slice(&text).ok().filter(|_| !is_gzip(&text));
            (gzip(&text), doc)
        };
        let mut damaged = gz.clone();
        match byte {
            // One byte of the stream changed (header, deflate data, CRC or size).
            Some(b) => {
                let i = at % damaged.len();
                damaged[i] = b;
            }
            // Truncated.
            None => damaged.truncate(at % damaged.len()),
        }
        // Damage is detected or harmless: never a different document.
        if let Some(doc) = parse_checked(&damaged)? {
            prop_assert_eq!(Some(doc), original, "damaged gzip gave another document");
        }
    }
}

// ---------------------------------------------------------------------------------------
// TileMatrixSet JSON

fn tms_seeds() -> &'static Vec<Value> {
    static SEEDS: OnceLock<Vec<Value>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        mosaic::tms::BUILTIN_IDS
            .iter()
            .map(|id| tms_seed(id))
            .collect()
    })
}

/// What must hold of every TMS the parser accepts; its arithmetic must not panic.
fn check_tms(tms: &TileMatrixSet) -> Result<(), TestCaseError> {
    let mats = tms.tile_matrices();
    prop_assert!(!mats.is_empty());
    for m in mats {
        prop_assert!(
            m.cell_size.is_finite() && m.cell_size > 0.0,
            "level {} cellSize {} accepted",
            m.id,
            m.cell_size
        );
        prop_assert!(
            m.scale_denominator.is_finite() && m.scale_denominator > 0.0,
            "level {} scaleDenominator {} accepted",
            m.id,
            m.scale_denominator
        );
        prop_assert!(m.tile_width > 0 && m.tile_height > 0);
        prop_assert!(
            (1..=MAX_MATRIX_SIZE).contains(&m.matrix_width)
                && (1..=MAX_MATRIX_SIZE).contains(&m.matrix_height),
            "level {} of {}x{} tiles accepted",
            m.id,
            m.matrix_width,
            m.matrix_height
        );
        prop_assert!(m.point_of_origin.iter().all(|v| v.is_finite()));
    }
    prop_assert!(tms.minzoom() <= tms.maxzoom());
    // Serialized and parsed again: the same set.
    let text = serde_json::to_string(tms).unwrap();
    let back = TileMatrixSet::from_json(&text)
        .map_err(|e| fail(format!("a TMS written does not parse back: {e}\n{text}")))?;
    prop_assert!(&back == tms, "round trip changed the TMS");
    let quadtree = tms.ensure_quadtree().is_ok();
    prop_assert_eq!(quadtree, tms.is_quadtree());
    for z in 0..=u8::MAX {
        let m = tms.matrix(z);
        prop_assert!(m.matrix_width >= 1 && m.matrix_height >= 1);
        if z <= 30 {
            let t = tms.tile_xy(0.0, 0.0, z);
            prop_assert!(t.x < m.matrix_width && t.y < m.matrix_height);
            let b = tms.xy_bounds(t);
            prop_assert!(!b.iter().any(|v| v.is_nan()), "xy_bounds {b:?}");
            if quadtree {
                let qk = tms.quadkey(t);
                prop_assert!(qk.len() <= 30);
            }
        }
    }
    let _ = tms.xy_bbox();
    Ok(())
}

/// Matrix sizes above this are refused (2^32 tiles a side: more than any zoom ≤ 30 of any
/// registered TMS, and far from `u64` overflow in the tile arithmetic).
const MAX_MATRIX_SIZE: u64 = 1 << 32;

fn check_tms_result(r: mosaic::Result<TileMatrixSet>) -> Result<(), TestCaseError> {
    match r {
        Ok(tms) => check_tms(&tms),
        Err(e) => {
            prop_assert!(!e.to_string().is_empty());
            Ok(())
        }
    }
}

/// A nonsense value for one field of a tile matrix.
fn nonsense_matrix_value() -> impl Strategy<Value = (&'static str, Value)> {
    prop_oneof![
        prop::sample::select(vec![
            json!(0),
            json!(0.0),
            json!(-0.0),
            json!(-1),
            json!(-156543.03392804097),
            json!(f64::MIN),
            json!("NaN"),
            json!(null),
        ])
        .prop_map(|v| ("cellSize", v)),
        prop::sample::select(vec![json!(0), json!(-1), json!(f64::MIN), json!("inf")])
            .prop_map(|v| ("scaleDenominator", v)),
        prop::sample::select(vec![
            json!(0),
            json!((1u64 << 32) + 1),
            json!(1u64 << 40),
            json!(1u64 << 63),
            json!(u64::MAX),
            json!(-1),
        ])
        .prop_map(|v| ("matrixWidth", v)),
        prop::sample::select(vec![json!(0), json!(1u64 << 63), json!(u64::MAX)])
            .prop_map(|v| ("matrixHeight", v)),
        prop::sample::select(vec![json!(0), json!(-256), json!(1u64 << 32)])
            .prop_map(|v| ("tileWidth", v)),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn tms_arbitrary_text(text in prop_oneof![".{0,64}", "\\{\"[a-zA-Z]{0,12}\":.{0,40}\\}"]) {
        check_tms_result(TileMatrixSet::from_json(&text))?;
    }

    #[test]
    fn tms_arbitrary_json(value in json_value(4)) {
        check_tms_result(TileMatrixSet::from_value(value))?;
    }

    #[test]
    fn tms_mutated_builtin(
        seed in any::<prop::sample::Index>(),
        muts in prop::collection::vec(mutation(), 1..6),
    ) {
        let seeds = tms_seeds();
        let text = serde_json::to_vec(&seeds[seed.index(seeds.len())]).unwrap();
        let bytes = mutate(&text, &muts, &corpus().tokens);
        if let Ok(text) = std::str::from_utf8(&bytes) {
            check_tms_result(TileMatrixSet::from_json(text))?;
        }
    }

    #[test]
    fn tms_edited_builtin(
        seed in any::<prop::sample::Index>(),
        edits in prop::collection::vec(edit(TMS_KEYS), 1..5),
        fields in prop::collection::vec(
            (any::<prop::sample::Index>(), prop::sample::select(TMS_KEYS), json_value(1)), 0..4),
    ) {
        let seeds = tms_seeds();
        let mut value = apply_edits(&seeds[seed.index(seeds.len())], &edits);
        // Field-level edits of the tile matrices, where the arithmetic lives.
        if let Some(mats) = value
            .get_mut("tileMatrices")
            .and_then(Value::as_array_mut)
            .filter(|m| !m.is_empty())
        {
            for (level, key, v) in &fields {
                let i = level.index(mats.len());
                if let Some(m) = mats[i].as_object_mut() {
                    m.insert(key.to_string(), v.clone());
                }
            }
        }
        check_tms_result(TileMatrixSet::from_value(value.clone()))?;
        // ... and inside a mosaic document.
        let mut doc = corpus().values[0].clone();
        doc["tilematrixset"] = value;
        parse_checked(&serde_json::to_vec(&doc).unwrap())?;
    }

    #[test]
    fn tms_nonsense_values_are_errors(
        seed in any::<prop::sample::Index>(),
        level in any::<prop::sample::Index>(),
        (field, v) in nonsense_matrix_value(),
    ) {
        let seeds = tms_seeds();
        let mut value = seeds[seed.index(seeds.len())].clone();
        let mats = value["tileMatrices"].as_array_mut().unwrap();
        let i = level.index(mats.len());
        mats[i][field] = v.clone();
        let r = TileMatrixSet::from_value(value);
        prop_assert!(r.is_err(), "level {i} with {field} = {v} was accepted");
    }

    /// Levels with gaps or duplicates: not a quadtree, and no arithmetic panics.
    #[test]
    fn tms_level_ids(
        seed in any::<prop::sample::Index>(),
        ids in prop::collection::vec(
            prop_oneof![0u16..40, Just(255), Just(256)].prop_map(|z| z.to_string()), 1..6),
    ) {
        let seeds = tms_seeds();
        let mut value = seeds[seed.index(seeds.len())].clone();
        let mats = value["tileMatrices"].as_array_mut().unwrap();
        mats.truncate(ids.len());
        for (m, id) in mats.iter_mut().zip(&ids) {
            m["id"] = json!(id);
        }
        let r = TileMatrixSet::from_value(value);
        if let Ok(tms) = &r {
            let zooms: Vec<u8> = tms.tile_matrices().iter().map(|m| m.id.parse().unwrap()).collect();
            if tms.is_quadtree() {
                prop_assert!(
                    zooms.windows(2).all(|w| w[1] == w[0] + 1),
                    "levels {zooms:?} taken for a quadtree"
                );
            }
        }
        check_tms_result(r)?;
    }
}

// ---------------------------------------------------------------------------------------
// Mosaic URIs

fn name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn check_uri(text: &str) -> Result<(), TestCaseError> {
    let parsed = MosaicUri::parse(text);
    prop_assert_eq!(
        format!("{parsed:?}"),
        format!("{:?}", MosaicUri::parse(text)),
        "parsing is not deterministic"
    );
    let _ = parse_location(text);
    let Ok(uri) = parsed else {
        return Ok(());
    };
    let _ = (uri.scheme(), uri.is_read_only());
    match &uri {
        MosaicUri::Memory => prop_assert!(text.is_empty() || text == ":memory:"),
        MosaicUri::File(p) => prop_assert!(!p.as_os_str().is_empty()),
        MosaicUri::S3 { bucket, key } | MosaicUri::Gcs { bucket, key } => {
            prop_assert!(
                !bucket.is_empty() && !bucket.contains('/'),
                "bucket {bucket:?}"
            );
            prop_assert!(
                !key.is_empty() && !key.starts_with('/') && !key.ends_with('/'),
                "key {key:?}"
            );
        }
        MosaicUri::Azure {
            account,
            container,
            key,
            ..
        } => {
            prop_assert!(!account.is_empty() && !container.is_empty() && !key.is_empty());
            prop_assert!(!container.contains('/'));
        }
        MosaicUri::DynamoDb {
            region,
            table,
            mosaic,
        } => {
            prop_assert!(name_ok(table) && name_ok(mosaic), "{table:?}:{mosaic:?}");
            if let Some(r) = region {
                prop_assert!(!r.is_empty() && !r.contains('/'));
            }
        }
        MosaicUri::Sqlite { path, mosaic } => {
            prop_assert!(!path.is_empty() && name_ok(mosaic));
            prop_assert!(!mosaic.eq_ignore_ascii_case("mosaicjson_metadata"));
        }
        MosaicUri::Http(u) => {
            let lower = u.to_ascii_lowercase();
            prop_assert!(
                (lower.starts_with("http://") || lower.starts_with("https://")) && u == text
            );
        }
        MosaicUri::Stac(u) => {
            prop_assert!(u.starts_with("http://") || u.starts_with("https://"));
        }
    }
    Ok(())
}

fn uri_text() -> impl Strategy<Value = String> {
    let scheme = prop::sample::select(vec![
        "",
        "s3",
        "S3",
        "gs",
        "az",
        "dynamodb",
        "DynamoDB",
        "sqlite",
        "http",
        "https",
        "HTTPS",
        "file",
        "FILE",
        "stac+http",
        "stac+https",
        "STAC+HTTPS",
        "stac+ftp",
        "stac+",
        "ftp",
        "memory",
        "+",
        "s3+http",
    ]);
    let part = prop_oneof![
        Just(String::new()),
        Just("/".to_string()),
        Just(":".to_string()),
        Just("//".to_string()),
        Just("..".to_string()),
        Just("us-east-1".to_string()),
        Just("us-gov-west-1".to_string()),
        Just("acc.blob.core.windows.net".to_string()),
        Just("mosaicjson_metadata".to_string()),
        Just(":memory:".to_string()),
        "[a-z0-9_.-]{1,8}",
        json_string(),
    ];
    prop_oneof![
        1 => ".{0,48}",
        4 => (scheme, prop::collection::vec(part, 0..6))
            .prop_map(|(s, parts)| format!("{s}://{}", parts.concat())),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn uri_parse(text in uri_text()) {
        check_uri(&text)?;
    }
}

// ---------------------------------------------------------------------------------------
// The security gate (`mosaic::gate`): the allowlist and the canonical forms behind it

fn location() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        Just("/".to_string()),
        Just("..".to_string()),
        Just(".".to_string()),
        Just("//".to_string()),
        Just(":".to_string()),
        Just("@".to_string()),
        Just("?".to_string()),
        Just("#".to_string()),
        Just("%2e%2e".to_string()),
        Just("%2F".to_string()),
        Just("169.254.169.254".to_string()),
        Just("2852039166".to_string()),
        Just("0xa9fea9fe".to_string()),
        Just("[::ffff:169.254.169.254]".to_string()),
        Just("metadata.google.internal.".to_string()),
        Just("127.0.0.1".to_string()),
        Just("[::1]".to_string()),
        Just("localhost".to_string()),
        Just("bucket".to_string()),
        Just("acc.blob.core.windows.net".to_string()),
        Just("tmp".to_string()),
        Just("m.json".to_string()),
        Just("/vsicurl/".to_string()),
        Just("GTIFF_DIR:1:".to_string()),
        Just("<VRTDataset/>".to_string()),
        "[a-z0-9]{1,6}",
        "\\PC{0,6}",
    ];
    let scheme = prop::sample::select(vec![
        "",
        "s3://",
        "S3://",
        "gs://",
        "az://",
        "http://",
        "HTTPS://",
        "file://",
        "file:///",
        "dynamodb://",
        "sqlite://",
        "stac+https://",
        "stac+http://",
        "ftp://",
        "/",
        "./",
        "../",
        "/tmp/",
    ]);
    prop_oneof![
        5 => (scheme, prop::collection::vec(part, 0..7)).prop_map(|(s, p)| format!("{s}{}", p.concat())),
        1 => ".{0,40}",
    ]
}

fn allow_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("*".to_string()),
            Just("s3://bucket/mosaics/".to_string()),
            Just("/tmp".to_string()),
            Just("https://cdn.example.com/cogs/".to_string()),
            Just("http://127.0.0.1:9/".to_string()),
            Just("dynamodb:///mosaics".to_string()),
            Just("sqlite:///tmp/m.db".to_string()),
            Just("/".to_string()),
            location(),
        ],
        0..4,
    )
    .prop_map(|v| v.join(","))
}

fn use_of(asset: bool) -> Use {
    if asset { Use::Asset } else { Use::Mosaic }
}

/// Trailing dots (also `%2e`) after an IP address are dropped before the host is classified.
#[test]
fn gate_trailing_dots_reach_no_blocked_address() {
    let open = Gate::new(AllowList::parse("*"));
    for loc in [
        "http://169.254.169.254../latest/meta-data/",
        "http://0xa9fea9fe../",
        "http://127.0.0.1../x.tif",
        "http://0%2e%2e/",
    ] {
        let verdict = open.admit(loc, Use::Asset);
        assert!(verdict.is_err(), "{loc} admitted as {verdict:?}");
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// Whatever the list and the location: no panic; what is admitted passes GDAL's input
    /// check, lies under an entry (unless `*`), and is admitted again as itself.
    #[test]
    fn gate_admit(list in allow_text(), loc in location(), asset in any::<bool>(), private in any::<bool>()) {
        let mut g = Gate::new(AllowList::parse(&list));
        g.allow_private_networks = private;
        let use_ = use_of(asset);
        let verdict = g.admit(&loc, use_);
        prop_assert_eq!(
            format!("{verdict:?}"),
            format!("{:?}", g.admit(&loc, use_)),
            "not deterministic"
        );
        let _ = (g.allow.entries(), g.allow.allows_any(), g.allow.hosts().count());
        let Ok(canon) = verdict else {
            return Ok(());
        };
        prop_assert!(
            check_gdal_input(&canon).is_ok(),
            "{loc:?} admitted as {canon:?}, which GDAL's input check refuses"
        );
        if !g.allow.allows_any() {
            prop_assert!(
                g.allow.entries().iter().any(|e| canon.starts_with(e)),
                "{loc:?} admitted as {canon:?}, under no entry of {:?}",
                g.allow.entries()
            );
        }
        let again = g.admit(&canon, use_);
        prop_assert_eq!(
            again.as_deref().ok(),
            Some(canon.as_str()),
            "{:?} admitted as {:?}, which is then {:?}",
            loc,
            canon,
            again
        );
    }

    /// Metadata and link-local addresses are refused in every spelling, even when
    /// everything is allowed.
    #[test]
    fn gate_refuses_metadata_hosts(
        scheme in prop::sample::select(vec!["http", "https", "HTTP", "stac+http", "stac+https"]),
        userinfo in prop::sample::select(vec!["", "x@", "user:pw@", "@"]),
        host in prop::sample::select(vec![
            "169.254.169.254", "169.254.170.2", "2852039166", "0xa9fea9fe", "0251.0376.0251.0376",
            "169.254.169.254.", "[::ffff:169.254.169.254]", "[::ffff:a9fe:a9fe]",
            "[64:ff9b::a9fe:a9fe]", "[fe80::1]", "[fd00:ec2::254]", "100.100.100.200",
            "METADATA.google.internal", "metadata.google.internal.", "metadata", "0.0.0.0", "[::]",
        ]),
        port in prop::option::of(0u16..=65535),
        path in "(/[a-z0-9.%-]{0,8}){0,3}",
        asset in any::<bool>(),
    ) {
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        let loc = format!("{scheme}://{userinfo}{host}{port}{path}");
        let mut g = Gate::new(AllowList::parse("*"));
        g.allow_private_networks = true;
        let verdict = g.admit(&loc, use_of(asset));
        prop_assert!(verdict.is_err(), "{} admitted as {:?}", loc, verdict);
    }

    #[test]
    fn gate_gdal_input(text in prop_oneof![location(), ".{0,32}"]) {
        if check_gdal_input(&text).is_ok() {
            let lower = text.trim_start().to_ascii_lowercase();
            prop_assert!(!text.is_empty() && !text.chars().any(char::is_control));
            prop_assert!(!lower.starts_with('<') && !lower.starts_with("/vsi"));
        }
    }
}

// ---------------------------------------------------------------------------------------
// STAC: items to footprints, and whole searches against a local API

fn geometry() -> impl Strategy<Value = Value> {
    let ring = |n: std::ops::Range<usize>| {
        prop::collection::vec(
            prop_oneof![
                8 => (-180.0f64..180.0, -90.0f64..90.0).prop_map(|(x, y)| json!([x, y])),
                1 => json_value(1),
            ],
            n,
        )
    };
    prop_oneof![
        3 => (-179.0f64..179.0, -89.0f64..89.0, 0.0f64..1.0).prop_map(|(x, y, d)| json!({
            "type": "Polygon",
            "coordinates": [[[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]
        })),
        2 => prop::collection::vec(ring(0..7), 0..3)
            .prop_map(|rings| json!({"type": "Polygon", "coordinates": rings})),
        1 => prop::collection::vec(prop::collection::vec(ring(3..6), 0..2), 0..3)
            .prop_map(|polys| json!({"type": "MultiPolygon", "coordinates": polys})),
        1 => Just(Value::Null),
        1 => Just(json!({"type": "Point", "coordinates": [1, 2]})),
        1 => json_value(3),
    ]
}

fn link() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec!["self", "root", "next", "prev", "Next", ""]),
        prop_oneof![
            3 => (0u32..6).prop_map(|n| json!(format!("{{BASE}}/search?page={n}"))),
            2 => Just(json!("{BASE}/search")),
            1 => Just(json!("http://127.0.0.1:9/search")),
            1 => Just(json!("not a url")),
            1 => Just(json!("ftp://127.0.0.1:9/x")),
            1 => json_value(1),
        ],
        prop::option::of(prop::sample::select(vec![
            json!("GET"),
            json!("POST"),
            json!("post"),
            json!("PUT"),
            json!(5),
        ])),
        prop::option::of(json_value(2)),
        prop::option::of(prop_oneof![
            Just(json!(true)),
            Just(json!(false)),
            json_value(0)
        ]),
    )
        .prop_map(|(rel, href, method, body, merge)| {
            let mut l = json!({"rel": rel, "href": href});
            if let Some(m) = method {
                l["method"] = m;
            }
            if let Some(b) = body {
                l["body"] = b;
            }
            if let Some(m) = merge {
                l["merge"] = m;
            }
            l
        })
}

fn item() -> impl Strategy<Value = Value> {
    (
        json_string(),
        geometry(),
        prop::collection::vec(link(), 0..3),
        prop::option::of(json_string()),
        prop::collection::vec(
            edit(&["id", "geometry", "links", "assets", "href", "rel"]),
            0..2,
        ),
    )
        .prop_map(|(id, geometry, links, collection, edits)| {
            let mut item = json!({
                "type": "Feature", "stac_version": "1.0.0", "id": id, "geometry": geometry,
                "links": links,
                "assets": {"visual": {"href": format!("s3://bucket/{id}.tif")}},
            });
            if let Some(c) = collection {
                item["collection"] = json!(c);
            }
            apply_edits(&item, &edits)
        })
}

fn accessor() -> impl Strategy<Value = ItemAccessor> {
    prop_oneof![
        Just(ItemAccessor::ItemUrl),
        Just(ItemAccessor::Asset("visual".into())),
        json_string().prop_map(ItemAccessor::Asset),
    ]
}

fn check_footprints(
    items: &[Value],
    accessor: &ItemAccessor,
    r: mosaic::Result<(Vec<Footprint>, Vec<String>)>,
) -> Result<(), TestCaseError> {
    let Ok((footprints, unplaced)) = r else {
        return Ok(());
    };
    prop_assert_eq!(footprints.len() + unplaced.len(), items.len());
    let placed: Vec<&Value> = items.iter().filter(|i| !i["geometry"].is_null()).collect();
    prop_assert_eq!(placed.len(), footprints.len());
    for (fp, item) in footprints.iter().zip(placed) {
        prop_assert!(!fp.polygons.is_empty());
        for ring in fp.polygons.iter().flatten() {
            prop_assert!(ring.len() >= 4, "ring of {} positions", ring.len());
            prop_assert!(ring.iter().flatten().all(|v| v.is_finite()));
        }
        prop_assert_eq!(&fp.asset, &item_asset(item, accessor).unwrap());
    }
    Ok(())
}

/// A STAC API on 127.0.0.1 answering the pages of the current case in order (the last one
/// again and again), counting requests.
struct StacApi {
    base: String,
    pages: Pages,
    hits: Arc<AtomicUsize>,
}

/// The pages the API answers with: status and body.
type Pages = Arc<Mutex<Vec<(u16, Vec<u8>)>>>;

/// Requests answered before the API gives up with 500 (a search still paging then has
/// looped).
const STAC_MAX_HITS: usize = 64;

fn stac_api() -> &'static StacApi {
    static API: OnceLock<StacApi> = OnceLock::new();
    API.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let pages: Pages = Arc::default();
        let hits = Arc::new(AtomicUsize::new(0));
        let (p, h) = (pages.clone(), hits.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut len = 0usize;
                let mut line = String::new();
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':')
                        && k.eq_ignore_ascii_case("content-length")
                    {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; len];
                let _ = reader.read_exact(&mut body);
                let n = h.fetch_add(1, Ordering::SeqCst);
                let (status, page) = {
                    let pages = p.lock().unwrap();
                    match pages.get(n.min(pages.len().saturating_sub(1))) {
                        _ if n >= STAC_MAX_HITS => (500, b"{}".to_vec()),
                        Some(page) => page.clone(),
                        None => (500, b"{}".to_vec()),
                    }
                };
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    page.len()
                );
                let _ = stream.write_all(&page);
            }
        });
        StacApi { base, pages, hits }
    })
}

fn stac_page() -> impl Strategy<Value = (u16, Value)> {
    let collection = (
        prop::collection::vec(item(), 0..4),
        prop::collection::vec(link(), 0..3),
        prop::option::of(prop_oneof![0u64..12, Just(u64::MAX)]),
        prop::option::of(prop::sample::select(vec!["context", "meta"])),
        prop::option::of(prop_oneof![0u64..12, Just(u64::MAX)]),
    )
        .prop_map(|(features, links, matched, ext, ext_matched)| {
            let mut page =
                json!({"type": "FeatureCollection", "features": features, "links": links});
            if let Some(m) = matched {
                page["numberMatched"] = json!(m);
            }
            if let (Some(k), Some(m)) = (ext, ext_matched) {
                page[k] = json!({"matched": m, "returned": 1});
            }
            page
        });
    (
        prop_oneof![12 => Just(200u16), 1 => Just(401u16), 1 => Just(404u16), 1 => Just(502u16)],
        prop_oneof![8 => collection, 1 => json_value(3)],
    )
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

/// One search case at a time: the API's pages are per case.
static STAC_LOCK: Mutex<()> = Mutex::new(());

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn stac_items_to_footprints(
        items in prop::collection::vec(item(), 0..6),
        accessor in accessor(),
    ) {
        let r = footprints_from_items(&items, &accessor);
        check_footprints(&items, &accessor, r)?;
        for item in &items {
            let _ = item_asset(item, &accessor);
        }
    }

    #[test]
    fn stac_arbitrary_items(items in prop::collection::vec(json_value(4), 0..6), accessor in accessor()) {
        let r = footprints_from_items(&items, &accessor);
        check_footprints(&items, &accessor, r)?;
    }
}

proptest! {
    #![proptest_config(config(128))]

    /// Whole searches: every page shape, `next` links of both methods, legacy paging by
    /// `numberMatched` / `context.matched`, error statuses. A search always ends, after a
    /// bounded number of requests.
    #[test]
    fn stac_search_pages(
        pages in prop::collection::vec(stac_page(), 1..5),
        query in prop_oneof![
            4 => Just(json!({"collections": ["c"]})),
            1 => Just(json!({"limit": 2})),
            1 => json_value(2),
        ],
        limit in prop::option::of(prop_oneof![Just(0u64), 1u64..5, Just(u64::MAX)]),
        max_items in prop::option::of(0usize..6),
        accessor in accessor(),
    ) {
        let _guard = STAC_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let api = stac_api();
        let served: Vec<(u16, Vec<u8>)> = pages
            .iter()
            .map(|(status, page)| {
                let text = page.to_string().replace("{BASE}", &api.base);
                (*status, text.into_bytes())
            })
            .collect();
        let served_features: Vec<Value> = served
            .iter()
            .filter_map(|(_, b)| serde_json::from_slice::<Value>(b).ok())
            .filter_map(|p| p["features"].as_array().cloned())
            .flatten()
            .collect();
        *api.pages.lock().unwrap() = served;
        api.hits.store(0, Ordering::SeqCst);
        let opts = SearchOptions {
            limit,
            max_items,
            ..SearchOptions::default()
        };
        let url = format!("{}/search", api.base);
        let r = runtime().block_on(search(&mosaic::stac::client().unwrap(), &url, &query, &opts));
        let hits = api.hits.load(Ordering::SeqCst);
        // Past the last distinct page the API repeats itself: a search must notice.
        prop_assert!(
            hits <= pages.len() + 2,
            "{hits} requests for {} distinct pages: the search loops ({:?})",
            pages.len(),
            r.as_ref().map(Vec::len)
        );
        if let Ok(items) = r {
            if let Some(m) = max_items {
                prop_assert!(items.len() <= m);
            }
            for item in &items {
                prop_assert!(served_features.contains(item), "an item no page holds");
            }
            let fp = footprints_from_items(&items, &accessor);
            check_footprints(&items, &accessor, fp)?;
        }
    }
}

// ---------------------------------------------------------------------------------------
// GeoJSON footprints

fn geojson_seed() -> &'static Vec<u8> {
    static SEED: OnceLock<Vec<u8>> = OnceLock::new();
    SEED.get_or_init(|| {
        let v: Value = serde_json::from_slice(
            &std::fs::read(refdata().join("footprints/fp_100.geojson")).unwrap(),
        )
        .unwrap();
        let features: Vec<Value> = v["features"].as_array().unwrap()[..4].to_vec();
        serde_json::to_vec(&json!({"type": "FeatureCollection", "features": features})).unwrap()
    })
}

fn check_geojson(bytes: &[u8]) -> Result<Option<Vec<Footprint>>, TestCaseError> {
    let r = mosaic::geojson::read_footprints(bytes, "path");
    if let Ok(fps) = &r {
        for fp in fps {
            prop_assert!(!fp.polygons.is_empty());
            for ring in fp.polygons.iter().flatten() {
                prop_assert!(ring.len() >= 4);
                prop_assert!(ring.iter().flatten().all(|v| v.is_finite()));
            }
        }
    }
    Ok(r.ok())
}

/// What a footprint holds, comparable.
type FootprintKey = (String, Vec<mosaic::create::Rings>);

fn fp_key(fps: &Option<Vec<Footprint>>) -> Option<Vec<FootprintKey>> {
    fps.as_ref().map(|v| {
        v.iter()
            .map(|f| (f.asset.clone(), f.polygons.clone()))
            .collect()
    })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn geojson_mutated_footprints(
        muts in prop::collection::vec(mutation(), 0..6),
        ndjson in any::<bool>(),
    ) {
        let mut seed = geojson_seed().clone();
        if ndjson {
            // The same features as a newline-delimited sequence.
            let v: Value = serde_json::from_slice(&seed).unwrap();
            seed = v["features"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| format!("{f}\n\u{1e}"))
                .collect::<String>()
                .into_bytes();
        }
        let bytes = mutate(&seed, &muts, &corpus().tokens);
        let plain = check_geojson(&bytes)?;
        if !is_gzip(&bytes) {
            let zipped = check_geojson(&gzip(&bytes))?;
            prop_assert_eq!(fp_key(&zipped), fp_key(&plain), "gzip and plain differ");
        }
    }

    #[test]
    fn geojson_arbitrary(value in json_value(5), bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        check_geojson(&serde_json::to_vec(&value).unwrap())?;
        check_geojson(&bytes)?;
    }
}

// ---------------------------------------------------------------------------------------
// Regressions: the failures these targets found, as plain tests

/// A center given as numeric strings (`"NaN"`, `"inf"`) was taken, then written as `NaN`:
/// a document the library wrote and could not read back.
#[test]
fn regression_non_finite_center_is_refused() {
    for center in [
        r#"[0,"NaN",0]"#,
        r#"["inf",0,0]"#,
        r#"["-Infinity","1e400",3]"#,
    ] {
        let text = format!(r#"{{"mosaicjson":"0.0.3","center":{center},"tiles":{{}}}}"#);
        match MosaicJson::from_slice(text.as_bytes()) {
            Err(mosaic::Error::InvalidMosaic { field, .. }) => {
                assert_eq!(field.as_deref(), Some("center"), "{text}")
            }
            other => panic!("{text}: {other:?}"),
        }
    }
}

/// `matrix(z)` shifted by `z - last level` (overflow panic from zoom 88 of WebMercatorQuad:
/// `mosaic tile m.json 100 0 0`), and subtracted zooms below a gap between levels.
#[test]
fn regression_tile_arithmetic_at_any_zoom() {
    let tms = TileMatrixSet::web_mercator();
    for z in [25, 31, 63, 64, 88, 100, 255] {
        let m = tms.matrix(z);
        assert!(m.matrix_width >= 1 && m.cell_size > 0.0, "zoom {z}");
        let checked = mosaic::render::check_tile(&tms, mosaic::Tile::new(0, 0, z));
        assert_eq!(checked.is_ok(), z <= 30, "zoom {z}");
    }
    // Levels 0 and 5 only: no quadtree, and the missing levels are extrapolated from 0.
    let mut v = tms_seed("WebMercatorQuad");
    let mats = v["tileMatrices"].as_array_mut().unwrap();
    let mut five = mats[1].clone();
    five["id"] = json!("5");
    mats.truncate(1);
    mats.push(five);
    let gap = TileMatrixSet::from_value(v).unwrap();
    assert!(!gap.is_quadtree() && gap.ensure_quadtree().is_err());
    assert_eq!(gap.matrix(3).matrix_width, 8);
}

/// Nonsense tile matrices are refused when parsed.
#[test]
fn regression_nonsense_matrices_are_refused() {
    for (field, value) in [
        ("scaleDenominator", json!(0)),
        ("matrixWidth", json!(0)),
        ("matrixWidth", json!(1u64 << 63)),
        ("cellSize", json!(1e306)),
        ("cellSize", json!(-1)),
        ("tileWidth", json!(0)),
    ] {
        let mut v = tms_seed("WebMercatorQuad");
        v["tileMatrices"][0][field] = value.clone();
        assert!(TileMatrixSet::from_value(v).is_err(), "{field} = {value}");
    }
}

/// A CRS URL in a TileMatrixSet made GDAL fetch it while the document was parsed (also
/// through the tiler's unauthenticated `POST /validate`): refused before GDAL sees it.
#[test]
fn regression_tms_crs_url_is_not_fetched() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    for crs in [
        format!("http://127.0.0.1:{port}/crs"),
        "/etc/passwd".to_string(),
        "ESRI::/etc/passwd".to_string(),
    ] {
        let mut v = tms_seed("WebMercatorQuad");
        v["crs"] = json!(crs);
        let e = TileMatrixSet::from_value(v.clone()).unwrap_err();
        assert!(e.to_string().contains("CRS"), "{crs}: {e}");
        let mut doc = corpus().values[0].clone();
        doc["tilematrixset"] = v;
        assert!(MosaicJson::from_slice(&serde_json::to_vec(&doc).unwrap()).is_err());
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(listener.accept().is_err(), "GDAL connected to the CRS URL");
}

/// An API that ignores `page` while reporting a huge `numberMatched` was paged forever.
#[test]
fn regression_stac_search_stops_at_a_repeated_page() {
    let _guard = STAC_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let api = stac_api();
    let item = json!({"type": "Feature", "id": "a", "geometry": null, "links": []});
    let page = json!({"type": "FeatureCollection", "features": [item], "links": [],
                      "numberMatched": u64::MAX});
    *api.pages.lock().unwrap() = vec![(200, page.to_string().into_bytes())];
    api.hits.store(0, Ordering::SeqCst);
    let url = format!("{}/search", api.base);
    let items = runtime()
        .block_on(search(
            &mosaic::stac::client().unwrap(),
            &url,
            &json!({}),
            &SearchOptions::default(),
        ))
        .unwrap();
    assert_eq!(items, vec![item]);
    assert_eq!(api.hits.load(Ordering::SeqCst), 2);
}
