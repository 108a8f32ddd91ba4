//! One conformance suite for the databases that edit mosaics per quadkey ([`TileIndex`] +
//! [`MosaicWrite`]): DynamoDB and SQLite run the same properties, each against its own
//! storage, through a [`Subject`].
//!
//! Each property is a public async function taking the subject; [`tile_index_conformance!`]
//! declares one test per property in the calling test file:
//!
//! ```ignore
//! mosaic_integration_tests::tile_index_conformance!(subject());
//! ```
//!
//! Every property uses mosaic names of its own, so they run concurrently on one subject.
//! Backend-specific behaviour (item size limits, leases, schema versions, locking) is
//! tested beside each backend, not here.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use mosaic::backend::{self, MosaicRead, MosaicWrite, Position, TileIndex, WriteMode};
use mosaic::create::{CreateOptions, Footprint, UpdateOptions};
use mosaic::index::QuadkeyQuery;
use mosaic::{Error, MosaicJson};

/// What the suite edits: whole writes and per-quadkey edits through one handle.
pub trait Database: MosaicWrite + TileIndex {}

impl<T: MosaicWrite + TileIndex> Database for T {}

/// A backend under test: where its mosaics live and how to get a handle on one.
pub trait Subject: Send + Sync {
    /// The URI of mosaic `mosaic` ([`backend::open`] reads it).
    fn uri(&self, mosaic: &str) -> String;

    /// A new handle on mosaic `mosaic`, with its own connection (or clients), as another
    /// process would have.
    fn writer(&self, mosaic: &str) -> Arc<dyn Database>;
}

/// Declares one `#[tokio::test]` per property of the suite, in a module `conformance`, on
/// the subject `$subject` builds (an expression evaluated in each test, in the calling
/// module's scope, giving an `Arc<dyn Subject>`).
#[macro_export]
macro_rules! tile_index_conformance {
    (@tests $subject:expr; $($property:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $property() {
                let subject: ::std::sync::Arc<dyn $crate::conformance::Subject> = $subject;
                $crate::conformance::$property(&subject).await;
            }
        )+
    };
    ($subject:expr) => {
        mod conformance {
            #[allow(unused_imports)]
            use super::*;

            $crate::tile_index_conformance!(@tests $subject;
                edits_are_idempotent,
                positions_first_and_last,
                emptied_quadkeys_are_deleted,
                commit_metadata_bumps_version_and_bounds,
                concurrent_writers_lose_nothing,
                asset_helpers_check_and_edit,
                asset_records_order_events,
                bad_quadkeys_are_refused,
                missing_mosaics_are_not_found,
                updates_are_idempotent,
                create_overwrite_delete,
            );
        }
    };
}

/// The suite's subject, shared by the tasks of a property.
pub type SharedSubject = Arc<dyn Subject>;

/// A quadkey of the seed mosaic's quadkey zoom that it does not list.
const FREE: &str = "333333";

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|a| a.to_string()).collect()
}

fn doc_of(assets: &[(&str, [f64; 4])]) -> MosaicJson {
    let fps: Vec<Footprint> = assets
        .iter()
        .map(|(a, b)| Footprint::from_bbox(*a, *b))
        .collect();
    MosaicJson::from_footprints(&fps, &CreateOptions::new(6, 8)).unwrap()
}

/// The seed mosaic: `a.tif` over [0, 0, 1, 1], zooms 6–8 (quadkey zoom 6).
pub fn seed() -> MosaicJson {
    doc_of(&[("a.tif", [0.0, 0.0, 1.0, 1.0])])
}

/// Writes `doc` as mosaic `name` (created) and returns a handle on it.
async fn written(s: &SharedSubject, name: &str, doc: &MosaicJson) -> Arc<dyn Database> {
    let w = s.writer(name);
    w.write(doc, WriteMode::Create)
        .await
        .unwrap_or_else(|e| panic!("writing {}: {e}", s.uri(name)));
    w
}

async fn open(s: &SharedSubject, name: &str) -> Arc<dyn MosaicRead> {
    backend::open(&s.uri(name))
        .await
        .unwrap_or_else(|e| panic!("opening {}: {e}", s.uri(name)))
}

/// The assets of `quadkey`, read by a new reader.
async fn read(s: &SharedSubject, name: &str, quadkey: &str) -> Vec<String> {
    open(s, name)
        .await
        .query(&QuadkeyQuery::Exact(quadkey.to_string()))
        .await
        .unwrap()
}

/// Every stored quadkey and its list, by key.
async fn stored(index: &dyn TileIndex) -> BTreeMap<String, Vec<String>> {
    index.tiles().await.unwrap().into_iter().collect()
}

/// Adding lists only assets not there yet (repeats within one call included) and returns
/// them; removing returns what was listed, once; repeating either changes nothing.
pub async fn edits_are_idempotent(s: &SharedSubject) {
    let w = written(s, "idempotent", &seed()).await;
    let added = w
        .add_assets(FREE, &strings(&["x", "y", "x"]), Position::First)
        .await
        .unwrap();
    assert_eq!(added, ["x", "y"]);
    assert_eq!(read(s, "idempotent", FREE).await, ["x", "y"]);
    let (yx, x) = (strings(&["y", "x"]), strings(&["x"]));
    let again = w.add_assets(FREE, &yx, Position::First).await;
    assert!(again.unwrap().is_empty());
    // Another handle sees the same list and adds nothing either.
    let other = s.writer("idempotent");
    let again = other.add_assets(FREE, &x, Position::Last).await;
    assert!(again.unwrap().is_empty());
    let removed = w.remove_assets(FREE, &strings(&["x", "nope", "x"])).await;
    assert_eq!(removed.unwrap(), ["x"]);
    assert!(
        w.remove_assets(FREE, &strings(&["x"]))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(read(s, "idempotent", FREE).await, ["y"]);
    // A quadkey without an item has nothing to remove.
    assert!(
        w.remove_assets("333330", &strings(&["y"]))
            .await
            .unwrap()
            .is_empty()
    );
}

/// `First` puts new assets before the list, in their order; `Last` after it.
pub async fn positions_first_and_last(s: &SharedSubject) {
    let w = written(s, "positions", &seed()).await;
    let add = |assets: &[&str], at| {
        let (w, assets) = (w.clone(), strings(assets));
        async move { w.add_assets(FREE, &assets, at).await.unwrap() }
    };
    add(&["x", "y"], Position::First).await;
    assert_eq!(add(&["z", "x"], Position::First).await, ["z"]);
    assert_eq!(add(&["w"], Position::Last).await, ["w"]);
    add(&["u", "v"], Position::First).await;
    add(&["p", "q"], Position::Last).await;
    assert_eq!(
        read(s, "positions", FREE).await,
        ["u", "v", "z", "x", "y", "w", "p", "q"]
    );
}

/// A quadkey whose last asset goes is deleted: neither listed nor read any more.
pub async fn emptied_quadkeys_are_deleted(s: &SharedSubject) {
    let seed = seed();
    let w = written(s, "emptied", &seed).await;
    w.add_assets(FREE, &strings(&["a", "b"]), Position::Last)
        .await
        .unwrap();
    assert!(stored(&*w).await.contains_key(FREE));
    // Which assets went is the contract, not their order (list order on DynamoDB, request
    // order on SQLite).
    let removed = w.remove_assets(FREE, &strings(&["b", "a"])).await.unwrap();
    assert_eq!(
        removed.into_iter().collect::<BTreeSet<_>>(),
        ["a", "b"].map(String::from).into()
    );
    let reader = open(s, "emptied").await;
    assert!(!reader.quadkeys().await.unwrap().contains(&FREE.to_string()));
    assert_eq!(stored(&*w).await, seed.tiles.clone().into_iter().collect());
    assert!(read(s, "emptied", FREE).await.is_empty());
    assert!(
        w.remove_assets(FREE, &strings(&["a"]))
            .await
            .unwrap()
            .is_empty()
    );
}

/// Each commit bumps the patch version once; bounds grow to cover what was added and stay
/// otherwise; readers see the committed metadata; non-finite bounds are refused.
pub async fn commit_metadata_bumps_version_and_bounds(s: &SharedSubject) {
    let w = written(s, "commit", &seed()).await;
    let before = w.metadata().await.unwrap();
    assert_eq!(before.version, "1.0.0");
    let meta = w.commit_metadata(None).await.unwrap();
    assert_eq!(meta.version, "1.0.1");
    assert_eq!(meta.bounds, before.bounds);
    assert!(meta.tiles.is_empty());
    let meta = w
        .commit_metadata(Some([-50.0, -1.0, 0.5, 60.0]))
        .await
        .unwrap();
    assert_eq!(meta.version, "1.0.2");
    assert_eq!(meta.bounds, [-50.0, -1.0, before.bounds[2], 60.0]);
    let doc = open(s, "commit").await.document();
    assert_eq!(
        (&doc.version, doc.bounds, doc.center, &doc.mosaicjson),
        (&meta.version, meta.bounds, meta.center, &meta.mosaicjson)
    );
    let refused = w.commit_metadata(Some([f64::NEG_INFINITY, 0.0, 1.0, 1.0]));
    assert!(matches!(refused.await, Err(Error::InvalidInput(_))));
    assert_eq!(w.metadata().await.unwrap().version, "1.0.2");
}

/// Many writers, each with its own handle, add distinct and shared assets (and repeats) to
/// overlapping quadkeys at once and commit: every asset ends up exactly once where it was
/// added, and every commit bumps the version once.
pub async fn concurrent_writers_lose_nothing(s: &SharedSubject) {
    const WRITERS: usize = 50;
    const QUADKEYS: [&str; 5] = ["133330", "133331", "133332", "133333", "133320"];
    let seed = seed();
    written(s, "concurrent", &seed).await;
    // Writer i edits three overlapping quadkeys with: its own asset, one shared by 1 in 5
    // writers, one shared by all, and its own asset again.
    let plan = |i: usize| -> Vec<(&'static str, Vec<String>)> {
        (0..3)
            .map(|k| {
                let assets = vec![
                    format!("own-{i}.tif"),
                    format!("group-{}.tif", i % 5),
                    "shared.tif".to_string(),
                    format!("own-{i}.tif"),
                ];
                (QUADKEYS[(i + k) % QUADKEYS.len()], assets)
            })
            .collect()
    };
    let mut tasks = Vec::new();
    for i in 0..WRITERS {
        let (w, edits) = (s.writer("concurrent"), plan(i));
        tasks.push(tokio::spawn(async move {
            let at = if i % 2 == 0 {
                Position::First
            } else {
                Position::Last
            };
            for (qk, assets) in &edits {
                w.add_assets(qk, assets, at).await.unwrap();
            }
            for (qk, assets) in &edits {
                assert!(w.add_assets(qk, assets, at).await.unwrap().is_empty());
            }
            w.commit_metadata(Some([0.0, 0.0, 2.0, 2.0])).await.unwrap()
        }));
    }
    let mut versions = HashSet::new();
    for task in tasks {
        versions.insert(task.await.unwrap().version);
    }
    // Every commit saw the one before it.
    assert_eq!(versions.len(), WRITERS, "{versions:?}");
    let doc = open(s, "concurrent").await.document();
    assert_eq!(doc.version, format!("1.0.{WRITERS}"));
    assert_eq!(doc.bounds, [0.0, 0.0, 2.0, 2.0]);

    let mut expected: BTreeMap<String, BTreeSet<String>> = seed
        .tiles
        .iter()
        .map(|(k, v)| (k.clone(), v.iter().cloned().collect()))
        .collect();
    for i in 0..WRITERS {
        for (qk, assets) in plan(i) {
            expected.entry(qk.to_string()).or_default().extend(assets);
        }
    }
    let got = stored(&*s.writer("concurrent")).await;
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (qk, want) in &expected {
        let list = &got[qk];
        let unique: BTreeSet<String> = list.iter().cloned().collect();
        assert_eq!(unique.len(), list.len(), "{qk}: duplicates in {list:?}");
        assert_eq!(&unique, want, "{qk}");
    }
}

/// Asset records: written with the document (the mosaic is tracked), grown before edits,
/// claimed only by events not older than the newest applied; an older event's edit after a
/// newer claim writes nothing.
pub async fn asset_records_order_events(s: &SharedSubject) {
    use mosaic::backend::{AssetEvent, AssetRecord, Claim, Edit, Edited, Sequencer};
    let seed = seed();
    let w = written(s, "records", &seed).await;
    let index: &dyn TileIndex = &*w;
    let qk = seed.tiles.keys().next().unwrap().clone();
    assert!(index.tracks_assets().await.unwrap());
    let a = index.asset_record("a.tif").await.unwrap().unwrap();
    assert_eq!(a.quadkeys, seed.tiles.keys().cloned().collect::<Vec<_>>());
    assert!(a.present && a.sequencer.is_none());
    assert_eq!(index.asset_record("never.tif").await.unwrap(), None);

    let seq = |s: &str| Some(Sequencer::parse(s).unwrap());
    let event = |present: bool, s: &str, qks: &[String]| AssetEvent {
        asset: "e.tif".into(),
        sequencer: seq(s),
        present,
        quadkeys: qks.to_vec(),
    };
    let here = [qk.clone()];
    assert_eq!(
        index.claim_asset(&event(true, "05", &here)).await.unwrap(),
        Claim::Applied(None)
    );
    let s05 = seq("05").unwrap();
    let s06 = seq("06").unwrap();
    assert_eq!(
        index
            .edit_claimed(&qk, "e.tif", Edit::Add(Position::First), Some(&s05))
            .await
            .unwrap(),
        Edited::Changed
    );
    assert_eq!(
        index
            .edit_claimed(&qk, "e.tif", Edit::Add(Position::First), Some(&s05))
            .await
            .unwrap(),
        Edited::Unchanged
    );
    let recorded = AssetRecord {
        quadkeys: here.to_vec(),
        sequencer: Some(s05.clone()),
        present: true,
    };
    // Older: refused, the newer record returned.
    assert_eq!(
        index.claim_asset(&event(false, "04", &[])).await.unwrap(),
        Claim::Stale(recorded.clone())
    );
    // Newer: applied, the record before it returned (its quadkeys are the removal's).
    assert_eq!(
        index.claim_asset(&event(false, "06", &[])).await.unwrap(),
        Claim::Applied(Some(recorded))
    );
    // The older event's edits stop; the newer one's go through.
    assert_eq!(
        index
            .edit_claimed(&qk, "e.tif", Edit::Add(Position::First), Some(&s05))
            .await
            .unwrap(),
        Edited::Superseded
    );
    assert_eq!(
        index
            .edit_claimed(&qk, "e.tif", Edit::Remove, Some(&s06))
            .await
            .unwrap(),
        Edited::Changed
    );
    assert_eq!(read(s, "records", &qk).await, ["a.tif"]);
    let after = index.asset_record("e.tif").await.unwrap().unwrap();
    assert!(!after.present);
    assert_eq!(after.sequencer, Some(s06));
    // Records only grow: the quadkeys stay named after the removal.
    assert_eq!(after.quadkeys, here);
    index
        .record_assets(&[("e.tif".into(), vec![FREE.to_string()])])
        .await
        .unwrap();
    let grown = index.asset_record("e.tif").await.unwrap().unwrap();
    assert_eq!(grown.quadkeys, vec![qk.clone(), FREE.to_string()]);
    assert!(grown.present);
}

/// [`backend::add_asset`], [`backend::remove_asset`], [`backend::withdraw_asset`] and
/// [`backend::apply_additions`]: quadkeys of another zoom refused before any edit, a
/// missing mosaic refused, each edit once, the metadata committed once per call.
pub async fn asset_helpers_check_and_edit(s: &SharedSubject) {
    let seed = seed();
    let w = written(s, "helpers", &seed).await;
    let index: &dyn TileIndex = &*w;
    let qk = seed.tiles.keys().next().unwrap().clone();
    let one = std::slice::from_ref(&qk);
    let deeper = [format!("{qk}0")];
    let wrong_zoom = backend::add_asset(index, "b.tif", &deeper, Position::First, None).await;
    assert!(matches!(wrong_zoom, Err(Error::InvalidInput(_))));
    assert_eq!(
        stored(index).await,
        seed.tiles.clone().into_iter().collect()
    );
    assert_eq!(w.metadata().await.unwrap().version, "1.0.0");

    let bounds = Some([0.0, 0.0, 1.0, 1.0]);
    let added = backend::add_asset(index, "b.tif", one, Position::First, bounds);
    assert_eq!(added.await.unwrap(), 1);
    let again = backend::add_asset(index, "b.tif", one, Position::First, None);
    assert_eq!(again.await.unwrap(), 0);
    assert_eq!(read(s, "helpers", &qk).await, ["b.tif", "a.tif"]);
    assert_eq!(open(s, "helpers").await.document().version, "1.0.2");
    assert_eq!(backend::remove_asset(index, "b.tif", one).await.unwrap(), 1);
    assert_eq!(read(s, "helpers", &qk).await, ["a.tif"]);

    // Withdrawn from every quadkey listing it, wherever that is.
    let both = [qk.clone(), FREE.to_string()];
    let added = backend::add_asset(index, "w.tif", &both, Position::Last, None);
    assert_eq!(added.await.unwrap(), 2);
    assert_eq!(backend::withdraw_asset(index, "w.tif").await.unwrap(), 2);
    assert_eq!(backend::withdraw_asset(index, "w.tif").await.unwrap(), 0);
    assert!(
        stored(index)
            .await
            .values()
            .all(|a| !a.contains(&"w.tif".to_string()))
    );
    let version = w.metadata().await.unwrap().version;
    assert_eq!(version, "1.0.5");

    // An update computed in memory, applied per quadkey.
    let fps = [Footprint::from_bbox("c.tif", [0.5, 0.5, 3.0, 3.0])];
    let additions = seed.additions(&fps, &UpdateOptions::default()).unwrap();
    let meta = backend::apply_additions(index, &additions, Position::Last)
        .await
        .unwrap();
    assert_eq!(meta.version, "1.0.6");
    assert_eq!(meta.bounds, [0.0, 0.0, 3.0, 3.0]);
    let tiles = stored(index).await;
    for (k, assets) in &additions.tiles {
        for a in assets {
            assert!(tiles[k].contains(a), "{k}: {a} not in {:?}", tiles[k]);
        }
    }

    // A mosaic that does not exist is refused before any edit.
    let absent = s.writer("helpers-absent");
    let refused = backend::add_asset(&*absent, "b.tif", one, Position::First, None);
    assert!(matches!(refused.await, Err(Error::NotFound { .. })));
    assert!(matches!(
        backend::open(&s.uri("helpers-absent")).await,
        Err(Error::NotFound { .. })
    ));
}

/// Keys that are not quadkeys (`-1` is DynamoDB's metadata item) are refused by edits.
pub async fn bad_quadkeys_are_refused(s: &SharedSubject) {
    let w = written(s, "bad-quadkeys", &seed()).await;
    let a = strings(&["a"]);
    for bad in ["04", "-1", "-2", "x", &"0".repeat(31)] {
        let added = w.add_assets(bad, &a, Position::First).await;
        assert!(matches!(added, Err(Error::InvalidInput(_))), "{bad}");
        let removed = w.remove_assets(bad, &a).await;
        assert!(matches!(removed, Err(Error::InvalidInput(_))), "{bad}");
    }
    assert_eq!(w.metadata().await.unwrap().version, "1.0.0");
}

/// A mosaic that was never written (in a store that holds others) is `NotFound` to
/// readers, metadata reads, commits, updates and deletes.
pub async fn missing_mosaics_are_not_found(s: &SharedSubject) {
    written(s, "present", &seed()).await;
    let ghost = s.writer("ghost");
    assert!(matches!(
        backend::open(&s.uri("ghost")).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        ghost.metadata().await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        ghost.commit_metadata(None).await,
        Err(Error::NotFound { .. })
    ));
    let fps = [Footprint::from_bbox("b.tif", [0.0, 0.0, 1.0, 1.0])];
    assert!(matches!(
        ghost.update(&fps, &UpdateOptions::default()).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(ghost.delete().await, Err(Error::NotFound { .. })));
}

/// `update`: new quadkeys inserted, assets already listed skipped (cogeo-mosaic would list
/// them twice), `mosaicjson` upgraded to 0.0.3, the version bumped each time; the stored
/// tiles are those of the update applied in memory.
pub async fn updates_are_idempotent(s: &SharedSubject) {
    for add_first in [true, false] {
        let name = format!("update-{add_first}");
        let mut doc = doc_of(&[
            ("a.tif", [0.0, 0.0, 2.0, 2.0]),
            ("b.tif", [1.0, 1.0, 3.0, 3.0]),
        ]);
        doc.mosaicjson = "0.0.2".into();
        let w = written(s, &name, &doc).await;
        let new = [
            Footprint::from_bbox("e.tif", [1.5, 0.5, 6.0, 2.5]),
            Footprint::from_bbox("a.tif", [0.0, 0.0, 2.0, 2.0]),
        ];
        let opts = UpdateOptions {
            add_first,
            ..UpdateOptions::default()
        };
        let meta = w.update(&new, &opts).await.unwrap();
        assert_eq!(meta.version, "1.0.1");
        assert_eq!(meta.mosaicjson, "0.0.3");
        assert_eq!(meta.bounds, [0.0, 0.0, 6.0, 3.0]);
        assert!(meta.tiles.is_empty());

        // The update in memory, without duplicates.
        let mut expected = doc.tiles.clone();
        let additions = doc.additions(&new, &opts).unwrap();
        assert!(additions.tiles.keys().any(|k| !doc.tiles.contains_key(k)));
        for (qk, assets) in &additions.tiles {
            let list = expected.entry(qk.clone()).or_default();
            let fresh: Vec<String> = assets
                .iter()
                .filter(|a| !list.contains(a))
                .cloned()
                .collect();
            if add_first {
                list.splice(0..0, fresh);
            } else {
                list.extend(fresh);
            }
        }
        let expected: BTreeMap<String, Vec<String>> = expected.into_iter().collect();
        assert_eq!(stored(&*w).await, expected, "add_first={add_first}");
        assert_eq!(
            open(s, &name).await.document().mosaicjson,
            "0.0.3",
            "add_first={add_first}"
        );

        // The same footprints again: nothing added, the version bumped.
        let meta = s.writer(&name).update(&new, &opts).await.unwrap();
        assert_eq!(meta.version, "1.0.2");
        assert_eq!(stored(&*w).await, expected, "add_first={add_first}");
    }
}

/// `write`: `Create` refuses an existing mosaic and changes nothing, `Overwrite` replaces
/// it whole (no quadkey of the old one left), `delete` removes it (then `NotFound`), and the
/// id can be written again.
pub async fn create_overwrite_delete(s: &SharedSubject) {
    let a = doc_of(&[("a.tif", [0.0, 0.0, 12.0, 12.0])]);
    let b = doc_of(&[("b.tif", [0.0, 0.0, 0.5, 0.5])]);
    assert!(b.tiles.len() < a.tiles.len());
    let tiles = |d: &MosaicJson| d.tiles.clone().into_iter().collect::<BTreeMap<_, _>>();
    let w = written(s, "lifecycle", &a).await;
    let refused = s.writer("lifecycle").write(&b, WriteMode::Create).await;
    assert!(
        matches!(refused, Err(Error::AlreadyExists { .. })),
        "{refused:?}"
    );
    assert_eq!(stored(&*w).await, tiles(&a));

    s.writer("lifecycle")
        .write(&b, WriteMode::Overwrite)
        .await
        .unwrap();
    assert_eq!(stored(&*w).await, tiles(&b));
    let reader = open(s, "lifecycle").await;
    assert_eq!(reader.document().bounds, b.bounds);
    let point = reader
        .assets_for_point(0.25, 0.25, &Default::default())
        .await;
    assert_eq!(point.unwrap(), ["b.tif"]);

    w.delete().await.unwrap();
    assert!(matches!(
        backend::open(&s.uri("lifecycle")).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(w.delete().await, Err(Error::NotFound { .. })));
    w.write(&a, WriteMode::Create).await.unwrap();
    assert_eq!(stored(&*w).await, tiles(&a));
}
