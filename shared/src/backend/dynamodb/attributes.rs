//! DynamoDB attribute values as JSON and back, and the sizes DynamoDB counts for items.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Number, Value};

/// DynamoDB's size of a tile item: attribute names plus values; a list costs 3 bytes plus
/// one per element.
pub fn tile_item_size(mosaic: &str, quadkey: &str, assets: &[String]) -> usize {
    "mosaicId".len()
        + mosaic.len()
        + "quadkey".len()
        + quadkey.len()
        + "assets".len()
        + 3
        + assets.iter().map(|a| a.len() + 1).sum::<usize>()
}

/// DynamoDB's size of an item: attribute names plus values (numbers counted as their text,
/// an upper bound; lists and maps 3 bytes plus one per element).
pub(super) fn metadata_item_size(item: &HashMap<String, AttributeValue>) -> usize {
    fn value(v: &AttributeValue) -> usize {
        match v {
            AttributeValue::S(s) | AttributeValue::N(s) => s.len(),
            AttributeValue::L(l) => 3 + l.iter().map(|v| value(v) + 1).sum::<usize>(),
            AttributeValue::M(m) => {
                3 + m.iter().map(|(k, v)| k.len() + value(v) + 1).sum::<usize>()
            }
            _ => 1,
        }
    }
    item.iter().map(|(k, v)| k.len() + value(v)).sum()
}

/// A JSON value as a DynamoDB attribute (numbers as `N` in their JSON text, `null` as `NULL`).
pub(super) fn to_attribute(v: Value) -> AttributeValue {
    match v {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s),
        Value::Array(a) => AttributeValue::L(a.into_iter().map(to_attribute).collect()),
        Value::Object(m) => {
            AttributeValue::M(m.into_iter().map(|(k, v)| (k, to_attribute(v))).collect())
        }
    }
}

/// A DynamoDB attribute as JSON. `N` becomes an integer when it has no fraction or
/// exponent (boto3 writes Python ints that way), else a float.
pub(super) fn from_attribute(v: AttributeValue) -> std::result::Result<Value, String> {
    Ok(match v {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(b),
        AttributeValue::S(s) => Value::String(s),
        AttributeValue::N(n) => number(&n)?,
        AttributeValue::L(l) => Value::Array(
            l.into_iter()
                .map(from_attribute)
                .collect::<std::result::Result<_, _>>()?,
        ),
        AttributeValue::M(m) => {
            // Map order is not kept by DynamoDB: sort keys for a stable document.
            let sorted: BTreeMap<String, AttributeValue> = m.into_iter().collect();
            Value::Object(
                sorted
                    .into_iter()
                    .map(|(k, v)| from_attribute(v).map(|v| (k, v)))
                    .collect::<std::result::Result<_, _>>()?,
            )
        }
        AttributeValue::Ss(s) => Value::Array(s.into_iter().map(Value::String).collect()),
        AttributeValue::Ns(ns) => Value::Array(
            ns.iter()
                .map(|n| number(n))
                .collect::<std::result::Result<_, _>>()?,
        ),
        other => return Err(format!("unsupported attribute {other:?}")),
    })
}

fn number(text: &str) -> std::result::Result<Value, String> {
    let bad = || format!("`{text}` is not a number");
    if !text.contains(['.', 'e', 'E'])
        && let Ok(i) = text.parse::<i64>()
    {
        return Ok(Value::Number(i.into()));
    }
    text.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mosaicjson::MosaicJson;

    #[test]
    fn attributes_round_trip_json() {
        let doc = MosaicJson::new(3, 9);
        let meta = Value::Object(doc.metadata());
        let back = from_attribute(to_attribute(meta.clone())).unwrap();
        let sorted = |v: &Value| {
            serde_json::to_string(&v.as_object().unwrap().iter().collect::<BTreeMap<_, _>>())
                .unwrap()
        };
        assert_eq!(sorted(&back), sorted(&meta));
        assert_eq!(number("7").unwrap(), Value::from(7));
        assert_eq!(number("-180.0").unwrap(), Value::from(-180.0));
        assert_eq!(number("1E-7").unwrap(), Value::from(1e-7));
        assert!(number("x").is_err());
        assert!(from_attribute(AttributeValue::B(vec![1].into())).is_err());
    }

    #[test]
    fn item_size_counts_names_and_list_overhead() {
        let assets = vec!["ab".to_string(), "c".to_string()];
        // 8+1 + 7+3 + 6 + 3 + (3 + 2)
        assert_eq!(tile_item_size("m", "012", &assets), 33);
    }
}
