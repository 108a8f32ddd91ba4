//! JSON output byte-compatible with Python's `json`/pydantic: compact separators and
//! floats in Python `repr` form (`-180.0`, `1e-07`, `1.5e+16`), so documents we write
//! are identical to the ones cogeo-mosaic writes.

use std::io;

use serde::Serialize;

/// Formats a finite `f64` the way Python's `repr(float)` does.
///
/// ```
/// use mosaic::pyjson::py_float;
/// assert_eq!(py_float(-180.0), "-180.0");
/// assert_eq!(py_float(0.25666999999999973), "0.25666999999999973");
/// assert_eq!(py_float(1e-7), "1e-07");
/// assert_eq!(py_float(1.5e16), "1.5e+16");
/// assert_eq!(py_float(123456.0), "123456.0");
/// ```
pub fn py_float(value: f64) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    if value == 0.0 {
        return if value.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-trip digits, as Python's repr does; only the
    // layout differs, so re-layout the digits with Python's rules.
    let sci = format!("{value:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let mut out = String::with_capacity(digits.len() + 8);
    if negative {
        out.push('-');
    }
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.abs()));
    }
    out
}

/// serde_json formatter: compact output with Python-style floats.
#[derive(Debug, Default, Clone, Copy)]
pub struct PyFormatter;

impl serde_json::ser::Formatter for PyFormatter {
    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        writer.write_all(py_float(value).as_bytes())
    }

    fn write_f32<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        self.write_f64(writer, f64::from(value))
    }
}

/// Serializes `value` to compact JSON bytes with Python float formatting.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(4096);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PyFormatter);
    value.serialize(&mut ser)?;
    Ok(out)
}

/// Same as [`to_vec`], as a `String`.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    // The serializer only emits UTF-8.
    to_vec(value).map(|v| String::from_utf8(v).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::py_float;

    #[test]
    fn python_repr_layout() {
        for (v, want) in [
            (1.0, "1.0"),
            (-0.5, "-0.5"),
            (1e16, "1e+16"),
            (9999999999999998.0, "9999999999999998.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (45.02216067905642, "45.02216067905642"),
            (-20037508.342789244, "-20037508.342789244"),
            (559082264.0287178, "559082264.0287178"),
            (1.2345e-300, "1.2345e-300"),
        ] {
            assert_eq!(py_float(v), want, "{v}");
        }
    }
}

/// Python's `", "` before every array item and object key but the first.
fn item_separator<W: ?Sized + io::Write>(writer: &mut W, first: bool) -> io::Result<()> {
    if first {
        Ok(())
    } else {
        writer.write_all(b", ")
    }
}

/// serde_json formatter reproducing Python's `json.dumps` defaults: `", "` and `": "`
/// separators, Python float layout.
#[derive(Debug, Default, Clone, Copy)]
pub struct PyDumpsFormatter;

impl serde_json::ser::Formatter for PyDumpsFormatter {
    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        PyFormatter.write_f64(writer, value)
    }

    fn write_f32<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        PyFormatter.write_f32(writer, value)
    }

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        item_separator(writer, first)
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        item_separator(writer, first)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }
}

/// Serializes `value` as Python's `json.dumps(value)` would print it, `ensure_ascii`
/// included: every character outside `' '..='~'` becomes `\uXXXX` (lowercase hex, UTF-16).
///
/// ```
/// let v = serde_json::json!({"a": [1, 2.0], "b": null, "c": "é"});
/// assert_eq!(mosaic::pyjson::dumps(&v).unwrap(), r#"{"a": [1, 2.0], "b": null, "c": "\u00e9"}"#);
/// ```
pub fn dumps<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let mut out = Vec::with_capacity(1024);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PyDumpsFormatter);
    value.serialize(&mut ser)?;
    let text = String::from_utf8(out).unwrap_or_default();
    if text.bytes().all(|b| b < 0x7f) {
        return Ok(text);
    }
    let mut ascii = String::with_capacity(text.len() + 32);
    for c in text.chars() {
        if u32::from(c) < 0x7f {
            ascii.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                ascii.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    Ok(ascii)
}
