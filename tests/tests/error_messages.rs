//! Errors that say what happened: a missing input file is named as such (not as a missing
//! mosaic), in one line, with exit 66.

use mosaic_integration_tests::run_cli_status;

#[test]
fn a_missing_input_file_says_no_such_file() {
    for args in [
        vec!["create", "/no/such/list.txt"],
        vec![
            "create-from-features",
            "/no/such/footprints.geojson",
            "--minzoom",
            "1",
            "--maxzoom",
            "2",
            "--property",
            "path",
        ],
        vec![
            "upload",
            "/no/such/mosaic.json",
            "--url",
            "/tmp/never-written.json",
        ],
    ] {
        let out = run_cli_status(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(66), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains("No such file"), "{args:?}: {stderr}");
        assert!(stderr.contains("/no/such/"), "{args:?}: {stderr}");
        assert!(!stderr.contains("mosaic not found"), "{args:?}: {stderr}");
    }
    // A missing mosaic is still a missing mosaic.
    let out = run_cli_status(&["info", "/no/such/mosaic.json"]);
    assert_eq!(out.status.code(), Some(66));
    assert!(String::from_utf8_lossy(&out.stderr).contains("mosaic not found"));
}
