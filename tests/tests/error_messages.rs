//! Errors that say what happened, in one line with a documented exit code: a missing
//! input file is named as such (not as a missing mosaic), a missing asset names the path
//! tried (66), no AWS credentials says so (77), usage errors exit 64.

use std::path::Path;

use mosaic_integration_tests::{cli_command, run_cli_status};

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

/// A mosaic of one asset over `[-1, -1, 1, 1]` (zooms 1 to 3) written in `dir`: tile
/// `1 0 0` looks it up. The asset string is kept as given.
fn one_asset_mosaic(dir: &Path, asset: &str) -> String {
    let doc = mosaic::MosaicJson::from_footprints(
        &[mosaic::create::Footprint::from_bbox(
            asset,
            [-1.0, -1.0, 1.0, 1.0],
        )],
        &mosaic::create::CreateOptions::new(1, 3),
    )
    .expect("mosaic");
    let path = dir.join("m.json");
    std::fs::write(&path, doc.to_json_vec()).expect("write the mosaic");
    path.to_string_lossy().into_owned()
}

/// The one line of stderr, after checking there is exactly one.
fn one_line(out: &std::process::Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(stderr.trim().lines().count(), 1, "{what}: {stderr}");
    assert!(stderr.starts_with("Error: "), "{what}: {stderr}");
    stderr.trim().to_string()
}

/// A relative asset path resolves against the working directory, as in cogeo-mosaic (not
/// the mosaic's folder): the error says so and names the absolute path it tried. A missing
/// asset is missing input (66), not a failure to retry (75).
#[test]
fn a_missing_relative_asset_names_the_working_directory_and_the_path_tried() {
    let docs = tempfile::tempdir().expect("tempdir");
    let work = tempfile::tempdir().expect("tempdir");
    let work_dir = std::fs::canonicalize(work.path()).expect("canonical working directory");
    let m = one_asset_mosaic(docs.path(), "cogs/rgb_03.tif");
    let out_png = work_dir.join("out.png");
    let out = cli_command(&["tile", &m, "1", "0", "0", "-o", &out_png.to_string_lossy()])
        .current_dir(&work_dir)
        .output()
        .expect("run mosaic");
    let line = one_line(&out, "relative asset");
    assert_eq!(out.status.code(), Some(66), "{line}");
    assert!(line.contains("working directory"), "{line}");
    let tried = work_dir.join("cogs/rgb_03.tif");
    assert!(
        line.contains(&tried.to_string_lossy().into_owned()),
        "{line}"
    );
    assert!(line.contains("No such file"), "{line}");
    assert!(!out_png.exists());
}

/// A missing absolute asset: GDAL's words and the path, exit 66, never the binding's
/// "returned a NULL pointer".
#[test]
fn a_missing_absolute_asset_says_no_such_file_with_its_path() {
    let docs = tempfile::tempdir().expect("tempdir");
    let m = one_asset_mosaic(docs.path(), "/no/such/dir/rgb_03.tif");
    let out_png = docs.path().join("out.png");
    let out = run_cli_status(&["tile", &m, "1", "0", "0", "-o", &out_png.to_string_lossy()]);
    let line = one_line(&out, "absolute asset");
    assert_eq!(out.status.code(), Some(66), "{line}");
    assert!(line.contains("/no/such/dir/rgb_03.tif"), "{line}");
    assert!(line.contains("No such file"), "{line}");
    assert!(!line.contains("NULL pointer"), "{line}");
    assert!(!line.contains("working directory"), "{line}");
}

/// The CLI with no AWS credentials anywhere: no `AWS_*` variable, an empty home (no
/// profile), and the instance metadata service off (`metadata`: `None`) or at a closed
/// loopback port, so it fails at once.
fn without_aws_credentials(args: &[&str], metadata: Option<&str>) -> std::process::Output {
    let home = tempfile::tempdir().expect("tempdir");
    let mut command = cli_command(args);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AWS_") {
            command.env_remove(key);
        }
    }
    command.env("HOME", home.path());
    match metadata {
        Some(endpoint) => command.env("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint),
        None => command.env("AWS_EC2_METADATA_DISABLED", "true"),
    };
    command.output().expect("run mosaic")
}

/// No AWS credentials is "not permitted" (77) in one line that says none were found and
/// where they were looked for, for an S3 document and a DynamoDB mosaic alike; not the
/// metadata service's HTTP error as a retryable storage failure (75).
#[test]
fn no_aws_credentials_says_so_in_one_line_and_exits_77() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", listener.local_addr().expect("address"))
    };
    for uri in ["s3://nobucket/x.json", "dynamodb:///nobody:x"] {
        for metadata in [None, Some(closed.as_str())] {
            let started = std::time::Instant::now();
            let out = without_aws_credentials(&["info", uri], metadata);
            let what = format!("{uri} (metadata {metadata:?})");
            let line = one_line(&out, &what);
            assert_eq!(out.status.code(), Some(77), "{what}: {line}");
            assert!(
                line.contains(&format!(
                    "{uri}: {} (tried env, profile, instance metadata)",
                    mosaic::error::NO_AWS_CREDENTIALS
                )),
                "{what}: {line}"
            );
            assert!(!line.contains("169.254"), "{what}: {line}");
            assert!(
                started.elapsed() < std::time::Duration::from_secs(20),
                "{what}: took {:?}",
                started.elapsed()
            );
        }
    }
}

/// Usage errors are one line starting `Error:` that names what is wrong, and exit 64
/// (clap's own exit code is 2). A missing argument is named: clap puts the names on the
/// lines after its first.
#[test]
fn argument_errors_are_one_line_and_exit_64() {
    for (args, names) in [
        (vec!["info", "--bogus"], vec!["'--bogus'"]),
        (
            vec!["tile", "mosaics/cog_rgb__default.json", "1", "0"],
            vec!["not provided", "<Y>"],
        ),
        (vec!["tile"], vec!["not provided", "<INPUT>", "<Z>"]),
        (vec!["no-such-command"], vec!["'no-such-command'"]),
        (vec![], vec!["a command is required", "create", "tile"]),
    ] {
        let out = run_cli_status(&args);
        let line = one_line(&out, &format!("{args:?}"));
        assert_eq!(out.status.code(), Some(64), "{args:?}: {line}");
        for name in names {
            assert!(line.contains(name), "{args:?}: {line}");
        }
    }
}

/// S3 reads credentials where DynamoDB (and boto3, for cogeo-mosaic) does: with no key in
/// the environment, a profile in `~/.aws/credentials` (the default one, or `AWS_PROFILE`)
/// signs the requests; a profile that is not there is one line, exit 77.
#[test]
fn s3_reads_credentials_from_a_profile() {
    mosaic_integration_tests::require_services();
    let key = format!(
        "s3://mosaic-test/{}/profile.json",
        mosaic_integration_tests::run_id()
    );
    let out = run_cli_status(&["upload", "mosaics/cog_rgb__default.json", "--url", &key]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let home = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(home.path().join(".aws")).expect("mkdir");
    let id = std::env::var("AWS_ACCESS_KEY_ID").expect("the services' key");
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").expect("the services' secret");
    std::fs::write(
        home.path().join(".aws/credentials"),
        format!(
            "[default]\naws_access_key_id = {id}\naws_secret_access_key = {secret}\n\n\
             [other]\naws_access_key_id = {id}\naws_secret_access_key = {secret}\n"
        ),
    )
    .expect("write credentials");
    for profile in [None, Some("other"), Some("absent")] {
        let mut command = cli_command(&["info", &key]);
        command
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env("HOME", home.path())
            .env("AWS_EC2_METADATA_DISABLED", "true");
        if let Some(p) = profile {
            command.env("AWS_PROFILE", p);
        } else {
            command.env_remove("AWS_PROFILE");
        }
        let out = command.output().expect("run mosaic");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if profile == Some("absent") {
            let line = one_line(&out, "an absent profile");
            assert_eq!(out.status.code(), Some(77), "{line}");
            assert!(line.contains(&key), "{line}");
        } else {
            assert!(out.status.success(), "profile {profile:?}: {stderr}");
            assert!(
                String::from_utf8_lossy(&out.stdout).contains("MosaicJSON:       0.0.3"),
                "profile {profile:?}"
            );
        }
    }
}
