//! Look-up parity: every case file of the reference set (tiles, points, bboxes, reverse,
//! projected inputs, another read TMS) gives exactly the reference answer.

use mosaic::{MemoryIndex, MosaicJson};
use mosaic_integration_tests::{lookup_cases, read_bytes};

#[test]
fn every_lookup_case_matches() {
    let cases = lookup_cases();
    let mut failures = Vec::new();
    let mut indexes = std::collections::HashMap::new();
    for case in &cases {
        let index = indexes.entry(case.mosaic.clone()).or_insert_with(|| {
            MemoryIndex::new(MosaicJson::from_slice(&read_bytes(&case.mosaic)).unwrap()).unwrap()
        });
        let (lookup, opts) = case.request();
        failures.extend(case.mismatch(index.lookup(&lookup, &opts)));
    }
    eprintln!("{} look-up cases, {} failures", cases.len(), failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(cases.len() > 100);
}
