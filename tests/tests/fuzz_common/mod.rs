//! Shared pieces of the property-based fuzz targets (`fuzz_parsers.rs`, `fuzz_events.rs`):
//! the proptest configuration (case count from `PROPTEST_CASES`), arbitrary JSON values
//! biased towards the values parsers get wrong, and byte-level mutations of seed documents.

#![allow(dead_code)]

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Map, Value};

/// `default_cases` cases, or `PROPTEST_CASES` when set (the long run of `scripts/fuzz.sh`).
///
/// `ProptestConfig::default()` reads `PROPTEST_CASES` too, but an explicit `with_cases`
/// replaces it: the override is read here so both the small default and the long run work.
/// No regression files are written into the source tree: a failure prints its minimal input.
pub fn config(default_cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default_cases);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Strings parsers trip on: numbers in string form (pydantic's lax mode), non-finite
/// spellings Rust's `f64::from_str` accepts, quadkey-like keys, odd Unicode.
pub const EVIL_STRINGS: &[&str] = &[
    "",
    " ",
    "0",
    "1",
    "-1",
    "7",
    "30",
    "31",
    "255",
    "256",
    "1.5",
    "1e400",
    "-1e400",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "-Infinity",
    "18446744073709551616",
    "-9223372036854775809",
    "0123",
    "0124",
    "0x1f",
    "012301230123012301230123012301",
    "0123012301230123012301230123012",
    "\u{0}",
    "é",
    "\u{202e}",
    "🦀",
    "a/b/../../c",
    "%00",
    "%ZZ",
    "+",
    "EPSG:3857",
    "EPSG:4326",
    "EPSG:0",
    "topLeft",
    "bottomLeft",
    "WebMercatorQuad",
];

/// Numbers at the edges: zero, negative zero, extremes, non-integers, beyond `u64`/`i64`.
pub fn evil_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::from(0)),
        Just(Value::from(-0.0)),
        Just(Value::from(-1)),
        Just(Value::from(1)),
        Just(Value::from(2)),
        Just(Value::from(30)),
        Just(Value::from(31)),
        Just(Value::from(255)),
        Just(Value::from(256)),
        Just(Value::from(0.5)),
        Just(Value::from(f64::MAX)),
        Just(Value::from(f64::MIN)),
        Just(Value::from(f64::MIN_POSITIVE)),
        Just(Value::from(5e-324)),
        Just(Value::from(u64::MAX)),
        Just(Value::from(1u64 << 63)),
        Just(Value::from(1u64 << 32)),
        Just(Value::from(i64::MIN)),
        Just(Value::from(1.8446744073709552e19)),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from), // non-finite become null, as JSON has no NaN
        (-400.0f64..400.0).prop_map(Value::from),
    ]
}

/// A JSON string: a tricky one, or arbitrary text.
pub fn json_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(EVIL_STRINGS).prop_map(String::from),
        2 => "[0-3]{0,32}",
        2 => "\\PC{0,12}",
        1 => ".{0,24}",
    ]
}

/// Arbitrary JSON, nested up to `depth` levels, biased towards edge values.
pub fn json_value(depth: u32) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        evil_number(),
        json_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(depth, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((json_string(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

/// Tokens inserted into documents: non-JSON numbers, huge numbers, deep nesting beyond
/// serde_json's recursion limit (128) and just within it, broken strings, invalid quadkeys.
pub fn tokens() -> Vec<String> {
    let mut t: Vec<String> = [
        "NaN",
        "-NaN",
        "Infinity",
        "-Infinity",
        "1e400",
        "-1e400",
        "1e-400",
        "18446744073709551616",
        "-9223372036854775809",
        "340282366920938463463374607431768211456",
        "-0",
        "0.0",
        "1.5",
        "31",
        "255",
        "256",
        "-1",
        "0x10",
        "null",
        "true",
        "[]",
        "{}",
        "\"\"",
        "\"NaN\"",
        "\"inf\"",
        "\"-Infinity\"",
        "\"1e400\"",
        "\"4\"",
        "\"0124\"",
        "\"012301230123012301230123012301230\"",
        "\"\\ud800\"",
        "\"\\u0000\"",
        "\"é\"",
        ",",
        ":",
        "\"",
        "\\",
        "}",
        "]",
        "\u{feff}",
        "\u{0}",
        "\u{1f}\u{8b}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for depth in [100, 127, 129, 1000] {
        t.push(format!("{}{}", "[".repeat(depth), "]".repeat(depth)));
        t.push(format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth)));
    }
    t.push("[".repeat(5000));
    t
}

/// One byte-level edit of a document; positions are taken modulo the current length.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Overwrite one byte.
    Set { at: usize, byte: u8 },
    /// Keep the first `at` bytes.
    Truncate { at: usize },
    /// Insert one of [`tokens`].
    Insert { at: usize, token: usize },
    /// Remove up to `len` bytes.
    Delete { at: usize, len: usize },
    /// Replace the `nth` run of digits (numbers, quadkeys) with a token.
    Number { nth: usize, token: usize },
    /// Replace the `nth` digit with another byte (invalid quadkey digits among them).
    Digit { nth: usize, byte: u8 },
    /// Copy a range elsewhere (duplicated keys, unbalanced brackets).
    Splice { from: usize, len: usize, at: usize },
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    let digit = prop::sample::select(b"0123456789456789-.eE xa".to_vec());
    prop_oneof![
        3 => (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Set { at, byte }),
        2 => any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        4 => (any::<usize>(), any::<usize>()).prop_map(|(at, token)| Mutation::Insert { at, token }),
        2 => (any::<usize>(), 1usize..64).prop_map(|(at, len)| Mutation::Delete { at, len }),
        4 => (any::<usize>(), any::<usize>()).prop_map(|(nth, token)| Mutation::Number { nth, token }),
        4 => (any::<usize>(), digit).prop_map(|(nth, byte)| Mutation::Digit { nth, byte }),
        1 => (any::<usize>(), 1usize..200, any::<usize>())
            .prop_map(|(from, len, at)| Mutation::Splice { from, len, at }),
    ]
}

/// Applies `muts` to `doc` in order.
pub fn mutate(doc: &[u8], muts: &[Mutation], tokens: &[String]) -> Vec<u8> {
    let mut d = doc.to_vec();
    for m in muts {
        let n = d.len();
        match *m {
            Mutation::Set { at, byte } => {
                if n > 0 {
                    d[at % n] = byte;
                }
            }
            Mutation::Truncate { at } => d.truncate(at % (n + 1)),
            Mutation::Insert { at, token } => {
                let t = tokens[token % tokens.len()].as_bytes();
                let at = at % (n + 1);
                d.splice(at..at, t.iter().copied());
            }
            Mutation::Delete { at, len } => {
                let at = at % (n + 1);
                d.drain(at..(at + len).min(n));
            }
            Mutation::Number { nth, token } => {
                let runs = digit_runs(&d);
                if !runs.is_empty() {
                    let (s, e) = runs[nth % runs.len()];
                    let t = tokens[token % tokens.len()].as_bytes();
                    d.splice(s..e, t.iter().copied());
                }
            }
            Mutation::Digit { nth, byte } => {
                let digits: Vec<usize> = (0..n).filter(|&i| d[i].is_ascii_digit()).collect();
                if !digits.is_empty() {
                    d[digits[nth % digits.len()]] = byte;
                }
            }
            Mutation::Splice { from, len, at } => {
                if n > 0 {
                    let from = from % n;
                    let chunk = d[from..(from + len).min(n)].to_vec();
                    let at = at % (n + 1);
                    d.splice(at..at, chunk);
                }
            }
        }
    }
    d
}

/// `(start, end)` of every maximal run of ASCII digits.
fn digit_runs(d: &[u8]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < d.len() {
        if d[i].is_ascii_digit() {
            let s = i;
            while i < d.len() && d[i].is_ascii_digit() {
                i += 1;
            }
            runs.push((s, i));
        } else {
            i += 1;
        }
    }
    runs
}

/// A path into a JSON document, followed by the `usize`s (modulo each container's size).
pub fn pick_mut<'a>(v: &'a mut Value, path: &[usize]) -> &'a mut Value {
    let mut cur = v;
    for &p in path {
        let len = match &*cur {
            Value::Array(a) => a.len(),
            Value::Object(o) => o.len(),
            _ => 0,
        };
        if len == 0 {
            break;
        }
        cur = match cur {
            Value::Array(a) => &mut a[p % len],
            Value::Object(o) => match o.values_mut().nth(p % len) {
                Some(v) => v,
                None => unreachable!("index within the object's length"),
            },
            _ => unreachable!("only containers have a length"),
        };
    }
    cur
}

/// One structural edit of a JSON document.
#[derive(Debug, Clone)]
pub enum Edit {
    /// Replace the value at `path` with `value`.
    Replace { path: Vec<usize>, value: Value },
    /// Remove a member of the container at `path`.
    Remove { path: Vec<usize>, nth: usize },
    /// Add or overwrite `key` in the object at `path`.
    Insert {
        path: Vec<usize>,
        key: String,
        value: Value,
    },
    /// Rename a member of the object at `path`.
    Rename {
        path: Vec<usize>,
        nth: usize,
        key: String,
    },
}

/// Edits whose new keys come from `keys` (the field names of the format under test, and
/// arbitrary strings).
pub fn edit(keys: &'static [&'static str]) -> impl Strategy<Value = Edit> {
    let path = || prop::collection::vec(any::<usize>(), 0..5);
    let key = move || {
        prop_oneof![
            3 => prop::sample::select(keys).prop_map(String::from),
            1 => json_string(),
        ]
    };
    prop_oneof![
        4 => (path(), json_value(3)).prop_map(|(path, value)| Edit::Replace { path, value }),
        2 => (path(), any::<usize>()).prop_map(|(path, nth)| Edit::Remove { path, nth }),
        2 => (path(), key(), json_value(3))
            .prop_map(|(path, key, value)| Edit::Insert { path, key, value }),
        2 => (path(), any::<usize>(), key()).prop_map(|(path, nth, key)| Edit::Rename { path, nth, key }),
    ]
}

/// Applies `edits` to a copy of `doc`.
pub fn apply_edits(doc: &Value, edits: &[Edit]) -> Value {
    let mut v = doc.clone();
    for e in edits {
        match e {
            Edit::Replace { path, value } => *pick_mut(&mut v, path) = value.clone(),
            Edit::Remove { path, nth } => match pick_mut(&mut v, path) {
                Value::Array(a) if !a.is_empty() => {
                    let i = nth % a.len();
                    a.remove(i);
                }
                Value::Object(o) if !o.is_empty() => {
                    let i = nth % o.len();
                    if let Some(k) = o.keys().nth(i).cloned() {
                        o.remove(&k);
                    }
                }
                _ => {}
            },
            Edit::Insert { path, key, value } => {
                if let Value::Object(o) = pick_mut(&mut v, path) {
                    o.insert(key.clone(), value.clone());
                }
            }
            Edit::Rename { path, nth, key } => {
                if let Value::Object(o) = pick_mut(&mut v, path)
                    && !o.is_empty()
                {
                    let i = nth % o.len();
                    if let Some(old) = o.keys().nth(i).cloned()
                        && let Some(val) = o.remove(&old)
                    {
                        o.insert(key.clone(), val);
                    }
                }
            }
        }
    }
    v
}
