//! The bad-input corpus (`tests/corpus/`, listed in its README) through the `mosaic` CLI:
//! `info`, `assets --tile/--point/--bbox`, `tile`, `create` and `create-from-features`.
//! Every case is a row of a table (name, arguments, expected exit code); an error must be
//! exactly one stderr line starting with `Error:`. Files that depend on the reference data
//! (a COG, its truncations, a PNG, a GeoTIFF without CRS, traversal layouts) are generated
//! in a temp directory from whatever COGs the set holds (`MOSAIC_REFDATA`).
//!
//! Each test runs its whole table and reports every mismatch at once.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mosaic::MosaicJson;
use mosaic::create::{CreateOptions, Footprint};
use mosaic_integration_tests::{mosaic_bin, refdata};

#[path = "../corpus/fixtures.rs"]
mod fixtures;
use fixtures::{Cog, cog, first_data_offset, png_bytes};

/// The hand-written part of the corpus.
fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

/// What a case must answer.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// This exit code; stderr exactly one line starting with `Error:`.
    Fail(i32),
    /// This exit code; stderr `Warning: …` lines (documented: `create` without `--strict`
    /// warns about each unreadable COG) and then exactly one `Error:` line.
    FailAfterWarnings(i32),
    /// Exit 0 and `[]` on stdout (a look-up that finds nothing), nothing on stderr.
    Empty,
    /// Exit 0 (a control: the same set-up with a good input works).
    Ok,
}

struct Case {
    name: String,
    args: Vec<String>,
    expect: Expect,
}

fn case(name: impl Into<String>, args: &[&str], expect: Expect) -> Case {
    Case {
        name: name.into(),
        args: args.iter().map(|s| s.to_string()).collect(),
        expect,
    }
}

/// A small georeferenced GeoTIFF with no CRS at all (geotransform in degrees over `bounds`).
fn geotiff_without_crs(bounds: [f64; 4]) -> Vec<u8> {
    use mosaic::render::encode::{ImageFormat, RenderOptions, render_image};
    use mosaic::render::{DataType, ImageData};
    let mut img = ImageData::masked(1, 64, 64, DataType::Uint8);
    img.data.iter_mut().for_each(|v| *v = 100.0);
    img.mask.iter_mut().for_each(|m| *m = false);
    let opts = RenderOptions {
        format: Some(ImageFormat::Tif),
        rescale: Vec::new(),
        colormap: None,
        no_mask: false,
    };
    render_image(&img, &opts, bounds, "").unwrap().0
}

/// The generated half of the corpus, in one temp directory (also the commands' working
/// directory):
///
/// ```text
/// root/                 cwd of every command
///   x/secret.tif        a copy of the COG: what `file://x/secret.tif` must never read
///   allowed/            mosaics, bad assets
///   outside/secret.tif  a copy of the COG, reached only by `..`
/// ```
struct Env {
    root: tempfile::TempDir,
    allowed: PathBuf,
    cog: Cog,
}

impl Env {
    fn new() -> Env {
        let cog = cog();
        let root = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(root.path()).unwrap();
        let allowed = base.join("allowed");
        let outside = base.join("outside");
        for d in [&allowed, &outside, &base.join("x")] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::copy(&cog.path, outside.join("secret.tif")).unwrap();
        std::fs::copy(&cog.path, base.join("x/secret.tif")).unwrap();
        let bytes = std::fs::read(&cog.path).unwrap();
        let data_start = first_data_offset(&bytes) as usize;
        for (name, content) in [
            ("not_a_tiff.png", png_bytes()),
            ("png_named.tif", png_bytes()),
            ("text_named.tif", b"this is not a TIFF file\n".to_vec()),
            ("truncated_header.tif", bytes[..16].to_vec()),
            ("truncated_after_ifds.tif", bytes[..data_start].to_vec()),
            ("no_crs.tif", geotiff_without_crs(cog.bounds)),
            ("empty.tif", Vec::new()),
        ] {
            std::fs::write(allowed.join(name), content).unwrap();
        }
        std::fs::create_dir_all(allowed.join("directory.tif")).unwrap();
        std::fs::create_dir_all(allowed.join("directory.json")).unwrap();
        Env { root, allowed, cog }
    }

    fn base(&self) -> PathBuf {
        std::fs::canonicalize(self.root.path()).unwrap()
    }

    fn at(&self, name: &str) -> String {
        self.allowed.join(name).to_string_lossy().into_owned()
    }

    /// A mosaic (in `allowed/`) whose only asset is `asset`, over the COG's footprint.
    fn mosaic_of(&self, name: &str, asset: &str) -> String {
        let fp = Footprint::from_bbox(asset, self.cog.bounds);
        let doc = MosaicJson::from_footprints(
            &[fp],
            &CreateOptions::new(self.cog.zooms.0, self.cog.zooms.1),
        )
        .unwrap();
        let path = self.allowed.join(format!("{name}.json"));
        std::fs::write(&path, doc.to_json_vec()).unwrap();
        path.to_string_lossy().into_owned()
    }

    /// A URL list (in `allowed/`) of one line.
    fn list_of(&self, name: &str, line: &str) -> String {
        let path = self.allowed.join(format!("{name}.txt"));
        std::fs::write(&path, format!("{line}\n")).unwrap();
        path.to_string_lossy().into_owned()
    }

    fn out(&self, name: &str) -> String {
        self.base()
            .join(format!("out_{name}"))
            .to_string_lossy()
            .into_owned()
    }

    fn run(&self, args: &[String]) -> Output {
        Command::new(mosaic_bin())
            .args(args)
            .current_dir(self.base())
            .env_remove("RUST_LOG")
            .env_remove("RUST_BACKTRACE")
            .output()
            .expect("run mosaic")
    }
}

/// Runs every case; returns the table (one line per case) and the mismatches.
fn run_table(env: &Env, cases: &[Case]) -> (Vec<String>, Vec<String>) {
    let mut table = Vec::new();
    let mut failures = Vec::new();
    for c in cases {
        let out = env.run(&c.args);
        let code = out.status.code().unwrap_or(-1);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        let problem = match c.expect {
            Expect::Fail(want) => {
                if code != want {
                    Some(format!("exit {code}, expected {want}"))
                } else if lines.len() != 1 || !lines[0].starts_with("Error: ") {
                    Some(format!(
                        "exit {code} as expected, but stderr is not one `Error:` line"
                    ))
                } else {
                    None
                }
            }
            Expect::FailAfterWarnings(want) => {
                let (last, rest) = lines.split_last().unzip();
                if code != want {
                    Some(format!("exit {code}, expected {want}"))
                } else if !last.is_some_and(|l| l.starts_with("Error: "))
                    || !rest
                        .unwrap_or(&[])
                        .iter()
                        .all(|l| l.starts_with("Warning: "))
                {
                    Some(format!(
                        "exit {code} as expected, but stderr is not warnings then one `Error:` line"
                    ))
                } else {
                    None
                }
            }
            Expect::Empty => {
                if code != 0 {
                    Some(format!("exit {code}, expected 0 with []"))
                } else if stdout.trim() != "[]" || !lines.is_empty() {
                    Some(format!("exit 0 but stdout {:?}", stdout.trim()))
                } else {
                    None
                }
            }
            Expect::Ok => (code != 0).then(|| format!("exit {code}, expected 0")),
        };
        let verdict = if problem.is_some() { "FAIL" } else { "pass" };
        table.push(format!(
            "{verdict} | {:<44} | expected {:?} | got exit {code}",
            c.name, c.expect
        ));
        if let Some(p) = problem {
            failures.push(format!(
                "{}: {p}\n    mosaic {}\n    stderr: {}",
                c.name,
                c.args.join(" "),
                stderr.trim_end().replace('\n', "\n            ")
            ));
        }
    }
    (table, failures)
}

fn check(group: &str, env: &Env, cases: &[Case]) {
    let (table, failures) = run_table(env, cases);
    println!("{group}:\n{}", table.join("\n"));
    assert!(
        failures.is_empty(),
        "{group}: {} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Corpus files read as mosaics by `info` and by `assets`.
#[test]
fn bad_mosaic_documents() {
    let env = Env::new();
    let dir = corpus().join("mosaics");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert!(names.len() >= 17, "corpus/mosaics is incomplete: {names:?}");
    let mut cases = Vec::new();
    for n in &names {
        let p = dir.join(n).to_string_lossy().into_owned();
        // Every document of corpus/mosaics is invalid MosaicJSON: 65.
        cases.push(case(format!("info {n}"), &["info", &p], Expect::Fail(65)));
        cases.push(case(
            format!("assets --point {n}"),
            &["assets", &p, "--point", "-74", "45.5"],
            Expect::Fail(65),
        ));
    }
    let d = env.at("directory.json");
    let missing = env.at("missing.json");
    cases.extend([
        case("info <directory>", &["info", &d], Expect::Fail(64)),
        case(
            "assets --tile <directory>",
            &["assets", &d, "--tile", "0", "0", "0"],
            Expect::Fail(64),
        ),
        case(
            "tile <directory>",
            &["tile", &d, "0", "0", "0"],
            Expect::Fail(64),
        ),
        case("info <missing file>", &["info", &missing], Expect::Fail(66)),
    ]);
    check("bad_mosaic_documents", &env, &cases);
}

/// Tile indices, points and bboxes out of range or malformed, on a good mosaic.
#[test]
fn bad_lookup_arguments() {
    let env = Env::new();
    let m = env.mosaic_of("good", &env.cog.path.to_string_lossy());
    let [w, s, e, n] = env.cog.bounds;
    let (w, s, e, n) = (w.to_string(), s.to_string(), e.to_string(), n.to_string());
    let t = env.cog.tile;
    let (tx, ty) = (t.x.to_string(), t.y.to_string());
    let two64 = "18446744073709551616";
    let max_u64 = "18446744073709551615";
    let out = env.out("tile.png");
    let tile = |z: &str, x: &str, y: &str| -> Vec<String> {
        ["tile", &m, z, x, y, "-o", &out]
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let mut cases = vec![
        case(
            "control: assets --tile inside",
            &["assets", &m, "--tile", "0", "0", "0"],
            Expect::Ok,
        ),
        case(
            "assets --tile z=31",
            &["assets", &m, "--tile", "31", "0", "0"],
            Expect::Fail(64),
        ),
        case(
            "assets --tile z=256",
            &["assets", &m, "--tile", "256", "0", "0"],
            Expect::Fail(64),
        ),
        case(
            "assets --tile x=2^64",
            &["assets", &m, "--tile", "3", two64, "0"],
            Expect::Fail(64),
        ),
        case(
            "assets --tile y=2^64",
            &["assets", &m, "--tile", "3", "0", two64],
            Expect::Fail(64),
        ),
        case(
            "assets --tile x=2^64-1 (outside z3)",
            &["assets", &m, "--tile", "3", max_u64, "0"],
            Expect::Fail(64),
        ),
        case(
            "assets --tile x=8 (outside z3)",
            &["assets", &m, "--tile", "3", "8", "0"],
            Expect::Fail(64),
        ),
        case(
            "assets --tile y=2^30 at z30",
            &["assets", &m, "--tile", "30", "0", "1073741824"],
            Expect::Fail(64),
        ),
        case(
            "assets --tile x=-1",
            &["assets", &m, "--tile", "3", "-1", "0"],
            Expect::Fail(64),
        ),
        case(
            "assets --tile z=-1",
            &["assets", &m, "--tile", "-1", "0", "0"],
            Expect::Fail(64),
        ),
        case(
            "assets --tile z=abc",
            &["assets", &m, "--tile", "abc", "0", "0"],
            Expect::Fail(64),
        ),
        case(
            "assets --tile x=1.5",
            &["assets", &m, "--tile", "3", "1.5", "0"],
            Expect::Fail(64),
        ),
        case(
            "assets --bbox inverted x (documented: nothing)",
            &["assets", &m, "--bbox", &e, &s, &w, &n],
            Expect::Empty,
        ),
        case(
            "assets --bbox inverted y (documented: nothing)",
            &["assets", &m, "--bbox", &w, &n, &e, &s],
            Expect::Empty,
        ),
        case(
            "assets --bbox NaN",
            &["assets", &m, "--bbox", "NaN", &s, &e, &n],
            Expect::Fail(64),
        ),
        case(
            "assets --bbox nan (maxy)",
            &["assets", &m, "--bbox", &w, &s, &e, "nan"],
            Expect::Fail(64),
        ),
        case(
            "assets --bbox inf",
            &["assets", &m, "--bbox", &w, &s, "inf", &n],
            Expect::Fail(64),
        ),
        case(
            "assets --bbox -inf",
            &["assets", &m, "--bbox", "-inf", &s, &e, &n],
            Expect::Fail(64),
        ),
        case(
            "assets --bbox 1e400",
            &["assets", &m, "--bbox", &w, &s, "1e400", &n],
            Expect::Fail(64),
        ),
        case(
            "assets --bbox abc",
            &["assets", &m, "--bbox", "abc", &s, &e, &n],
            Expect::Fail(64),
        ),
        case(
            "assets --point NaN",
            &["assets", &m, "--point", "NaN", &s],
            Expect::Fail(64),
        ),
        case(
            "assets --point Infinity",
            &["assets", &m, "--point", "Infinity", &s],
            Expect::Fail(64),
        ),
        case(
            "assets --point -inf",
            &["assets", &m, "--point", &w, "-inf"],
            Expect::Fail(64),
        ),
        case(
            "assets --point 1e400",
            &["assets", &m, "--point", "1e400", &s],
            Expect::Fail(64),
        ),
        case(
            "assets --point abc",
            &["assets", &m, "--point", "abc", &s],
            Expect::Fail(64),
        ),
    ];
    for (name, z, x, y, want) in [
        ("tile z=31", "31", "0", "0", Expect::Fail(64)),
        ("tile z=256", "256", "0", "0", Expect::Fail(64)),
        ("tile x=2^64", "3", two64, "0", Expect::Fail(64)),
        ("tile y=2^64", "3", "0", two64, Expect::Fail(64)),
        ("tile x=8 (outside z3)", "3", "8", "0", Expect::Fail(64)),
        ("tile x=-1", "3", "-1", "0", Expect::Fail(64)),
        ("tile y=-1", "3", "0", "-1", Expect::Fail(64)),
        ("tile z=abc", "abc", "0", "0", Expect::Fail(64)),
        (
            "tile no asset there (exit 3)",
            &t.z.to_string(),
            "0",
            "0",
            Expect::Fail(3),
        ),
        (
            "control: tile inside the COG",
            &t.z.to_string(),
            &tx,
            &ty,
            Expect::Ok,
        ),
    ] {
        cases.push(Case {
            name: name.into(),
            args: tile(z, x, y),
            expect: want,
        });
    }
    check("bad_lookup_arguments", &env, &cases);
}

/// Assets that are not COGs, truncated, without CRS, empty, directories, and traversal in
/// every encoding, rendered by `tile` (the CLI has no allowlist: `..` in a path is the
/// operator's path; encoded forms must stay literal names).
#[test]
fn bad_assets_through_tile() {
    let env = Env::new();
    let t = env.cog.tile;
    let a = env.allowed.to_string_lossy().into_owned();
    let cases_in: Vec<(&str, String, Expect)> = vec![
        (
            "control: the COG itself",
            env.cog.path.to_string_lossy().into_owned(),
            Expect::Ok,
        ),
        ("PNG named .png", env.at("not_a_tiff.png"), Expect::Fail(66)),
        ("PNG named .tif", env.at("png_named.tif"), Expect::Fail(66)),
        (
            "text file named .tif",
            env.at("text_named.tif"),
            Expect::Fail(66),
        ),
        (
            "truncated TIFF (16 bytes)",
            env.at("truncated_header.tif"),
            Expect::Fail(75),
        ),
        (
            "truncated TIFF (IFDs, no pixel data)",
            env.at("truncated_after_ifds.tif"),
            Expect::Fail(75),
        ),
        (
            "GeoTIFF without CRS",
            env.at("no_crs.tif"),
            Expect::Fail(75),
        ),
        ("empty file", env.at("empty.tif"), Expect::Fail(66)),
        (
            "directory as asset",
            env.at("directory.tif"),
            Expect::Fail(66),
        ),
        ("missing asset", env.at("missing.tif"), Expect::Fail(66)),
        (
            "control: ../ (no allowlist in the CLI)",
            format!("{a}/../outside/secret.tif"),
            Expect::Ok,
        ),
        (
            "%2e%2e/ stays literal",
            format!("{a}/%2e%2e/outside/secret.tif"),
            Expect::Fail(66),
        ),
        (
            "%252e%252e/ stays literal",
            format!("{a}/%252e%252e/outside/secret.tif"),
            Expect::Fail(66),
        ),
        (
            "..%2f stays literal",
            format!("{a}/..%2foutside%2fsecret.tif"),
            Expect::Fail(66),
        ),
        (
            "%2e%2e%5c stays literal",
            format!("{a}/%2e%2e%5coutside%5csecret.tif"),
            Expect::Fail(66),
        ),
        (
            "backslashes are not separators",
            format!("{a}/..\\outside\\secret.tif"),
            Expect::Fail(66),
        ),
        (
            "file://x/secret.tif never reads ./x/secret.tif",
            "file://x/secret.tif".into(),
            // Refused by the gate (forbidden, 77), as GDAL syntax is.
            Expect::Fail(77),
        ),
        (
            "GDAL syntax (/vsicurl/)",
            "/vsicurl/http://127.0.0.1:9/x.tif".into(),
            Expect::Fail(77),
        ),
    ];
    let mut cases = Vec::new();
    for (i, (name, asset, want)) in cases_in.iter().enumerate() {
        let m = env.mosaic_of(&format!("asset{i}"), asset);
        let out = env.out(&format!("asset{i}.png"));
        cases.push(case(
            format!("tile: {name}"),
            &[
                "tile",
                &m,
                &t.z.to_string(),
                &t.x.to_string(),
                &t.y.to_string(),
                "-o",
                &out,
            ],
            *want,
        ));
    }
    check("bad_assets_through_tile", &env, &cases);
}

/// `create` from URL lists of bad COGs (`--strict`: one error), and list files that are bad.
#[test]
fn bad_inputs_to_create() {
    let env = Env::new();
    let out = env.out("created.json");
    let mut cases = vec![case(
        "control: create --strict on the COG",
        &[
            "create",
            "--strict",
            "-q",
            "-o",
            &out,
            &env.list_of("good", &env.cog.path.to_string_lossy()),
        ],
        Expect::Ok,
    )];
    // 66: GDAL found no such file, or not a GeoTIFF; 75: a GeoTIFF whose reading failed.
    for (name, file, code) in [
        ("PNG named .png", "not_a_tiff.png", 66),
        ("PNG named .tif", "png_named.tif", 66),
        ("text file named .tif", "text_named.tif", 66),
        ("truncated TIFF (16 bytes)", "truncated_header.tif", 75),
        ("GeoTIFF without CRS", "no_crs.tif", 75),
        ("empty file", "empty.tif", 66),
        ("directory", "directory.tif", 66),
        ("missing file", "missing.tif", 66),
    ] {
        let list = env.list_of(&format!("list_{file}"), &env.at(file));
        cases.push(case(
            format!("create --strict: {name}"),
            &["create", "--strict", "-q", "-o", &out, &list],
            Expect::Fail(code),
        ));
    }
    let text = env.list_of("list_text", &env.at("text_named.tif"));
    cases.push(case(
        "create (not strict): only unreadable COGs",
        &["create", "-q", "-o", &out, &text],
        Expect::FailAfterWarnings(75),
    ));
    let no_url = corpus().join("lists/no_url.txt");
    let no_url = no_url.to_string_lossy();
    cases.extend([
        case(
            "create: list without a URL",
            &["create", "-q", "-o", &out, &no_url],
            Expect::Fail(65),
        ),
        case(
            "create: directory as the list",
            &["create", "-q", "-o", &out, &env.at("directory.tif")],
            Expect::Fail(64),
        ),
        case(
            "create: missing list",
            &["create", "-q", "-o", &out, &env.at("missing.txt")],
            Expect::Fail(66),
        ),
    ]);
    check("bad_inputs_to_create", &env, &cases);
}

/// `create-from-features` on the corpus's bad GeoJSON and on bad zoom arguments.
#[test]
fn bad_inputs_to_create_from_features() {
    let env = Env::new();
    let out = env.out("from_features.json");
    let dir = corpus().join("features");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".geojson"))
        .collect();
    names.sort();
    assert!(names.len() >= 9, "corpus/features is incomplete: {names:?}");
    let cff = |file: &str, minzoom: &str, maxzoom: &str| -> Vec<String> {
        [
            "create-from-features",
            "--minzoom",
            minzoom,
            "--maxzoom",
            maxzoom,
            "--property",
            "path",
            "-q",
            "-o",
            &out,
            file,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let mut cases = Vec::new();
    for n in &names {
        // Every file of corpus/features is bad GeoJSON data: 65.
        cases.push(Case {
            name: format!("create-from-features {n}"),
            args: cff(&dir.join(n).to_string_lossy(), "3", "5"),
            expect: Expect::Fail(65),
        });
    }
    // A good footprint file generated from the COG, for the argument cases.
    let [w, s, e, n] = env.cog.bounds;
    let good = env.allowed.join("good.geojson");
    std::fs::write(
        &good,
        serde_json::json!({"type": "Feature", "properties": {"path": "a.tif"}, "geometry":
            {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}})
        .to_string(),
    )
    .unwrap();
    let good = good.to_string_lossy().into_owned();
    for (name, args, want) in [
        ("control: good footprint", cff(&good, "3", "5"), Expect::Ok),
        (
            "directory as features",
            cff(&env.at("directory.tif"), "3", "5"),
            Expect::Fail(64),
        ),
        (
            "missing features file",
            cff(&env.at("missing.geojson"), "3", "5"),
            Expect::Fail(66),
        ),
        ("--maxzoom 31", cff(&good, "3", "31"), Expect::Fail(64)),
        ("--maxzoom 256", cff(&good, "3", "256"), Expect::Fail(64)),
        ("--minzoom -1", cff(&good, "-1", "5"), Expect::Fail(64)),
        (
            "--minzoom 2^64",
            cff(&good, "18446744073709551616", "5"),
            Expect::Fail(64),
        ),
        ("--minzoom NaN", cff(&good, "NaN", "5"), Expect::Fail(64)),
    ] {
        cases.push(Case {
            name: format!("create-from-features: {name}"),
            args,
            expect: want,
        });
    }
    check("bad_inputs_to_create_from_features", &env, &cases);
}
