//! From a JSON dict to store writes: `{k: v}` → `SET k v`, `{k: {f: v}}` → `HSET k f v`.

use std::fmt;

use serde_json::Value;

/// One write to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `SET key value`.
    Set {
        /// The key.
        key: String,
        /// The value: a JSON string's contents, or the JSON text of a number or boolean.
        value: String,
    },
    /// `HSET key field value`.
    HSet {
        /// The hash's key.
        key: String,
        /// The field.
        field: String,
        /// The value, as for [`Op::Set`].
        value: String,
    },
}

impl Op {
    /// The key written.
    pub fn key(&self) -> &str {
        match self {
            Self::Set { key, .. } | Self::HSet { key, .. } => key,
        }
    }
}

/// Why a payload was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejected {
    /// The bytes are not valid JSON.
    InvalidJson(String),
    /// Valid JSON, but not an object (an array, for example).
    NotAnObject(&'static str),
    /// A value nested deeper than `{key: {field: value}}`.
    TooDeep {
        /// The top-level key.
        key: String,
        /// The field whose value is an object or array.
        field: String,
    },
    /// A top-level value that is an array (only strings, numbers, booleans, null and objects
    /// of those are stored).
    ArrayValue {
        /// The key.
        key: String,
    },
    /// The payload was longer than the maximum size.
    Oversized {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Bytes that cannot start a JSON object.
    Garbage {
        /// The first few of them.
        sample: String,
    },
    /// The connection closed in the middle of a payload.
    Truncated {
        /// Bytes of it received.
        size: usize,
    },
    /// The store refused the write (for example `WRONGTYPE`: SET on a key holding a hash).
    Store(String),
}

impl Rejected {
    /// A short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::InvalidJson(_) => "invalid_json",
            Self::NotAnObject(_) => "not_an_object",
            Self::TooDeep { .. } => "too_deep",
            Self::ArrayValue { .. } => "array_value",
            Self::Oversized { .. } => "oversized",
            Self::Garbage { .. } => "garbage",
            Self::Truncated { .. } => "truncated",
            Self::Store(_) => "store_error",
        }
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidJson(e) => write!(f, "invalid JSON: {e}"),
            Self::NotAnObject(kind) => write!(f, "payload is a JSON {kind}, not an object"),
            Self::TooDeep { key, field } => write!(
                f,
                "value of {key:?}.{field:?} is nested too deep (at most {{key: {{field: value}}}})"
            ),
            Self::ArrayValue { key } => {
                write!(f, "value of {key:?} is an array (only scalars and dicts)")
            }
            Self::Oversized { size, max } => {
                write!(f, "payload of {size} bytes exceeds the maximum of {max}")
            }
            Self::Garbage { sample } => write!(f, "not JSON: {sample:?}"),
            Self::Truncated { size } => {
                write!(f, "connection closed after {size} bytes of a payload")
            }
            Self::Store(e) => write!(f, "store refused the write: {e}"),
        }
    }
}

fn scalar_text(value: Value) -> Result<String, Value> {
    match value {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Ok("null".to_owned()),
        other => Err(other),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "boolean",
        Value::Null => "null",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Maps one payload to its writes, appending them to `ops`. On rejection nothing is appended:
/// a payload is stored whole or not at all.
pub fn map_payload(bytes: &[u8], ops: &mut Vec<Op>) -> Result<(), Rejected> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| Rejected::InvalidJson(e.to_string()))?;
    let Value::Object(dict) = value else {
        return Err(Rejected::NotAnObject(kind(&value)));
    };
    let start = ops.len();
    for (key, value) in dict {
        let value = match scalar_text(value) {
            Ok(text) => {
                ops.push(Op::Set { key, value: text });
                continue;
            }
            Err(value) => value,
        };
        let Value::Object(fields) = value else {
            ops.truncate(start);
            return Err(Rejected::ArrayValue { key });
        };
        for (field, value) in fields {
            let Ok(text) = scalar_text(value) else {
                ops.truncate(start);
                return Err(Rejected::TooDeep { key, field });
            };
            ops.push(Op::HSet {
                key: key.clone(),
                field,
                value: text,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(key: &str, value: &str) -> Op {
        Op::Set {
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn flat_dict_becomes_sets_with_json_text_for_numbers_and_booleans() {
        let mut ops = Vec::new();
        map_payload(br#"{"a": "x", "n": 1.5, "t": true, "i": -3}"#, &mut ops).unwrap();
        ops.sort_by(|a, b| a.key().cmp(b.key()));
        assert_eq!(
            ops,
            [
                set("a", "x"),
                set("i", "-3"),
                set("n", "1.5"),
                set("t", "true")
            ]
        );
    }

    #[test]
    fn nested_dict_becomes_hsets() {
        let mut ops = Vec::new();
        map_payload(br#"{"h": {"f": "v", "g": 2}}"#, &mut ops).unwrap();
        assert_eq!(ops.len(), 2);
        assert!(ops.contains(&Op::HSet {
            key: "h".into(),
            field: "g".into(),
            value: "2".into()
        }));
    }

    #[test]
    fn rejections_name_the_cause_and_append_nothing() {
        let mut ops = vec![set("keep", "me")];
        let deep = map_payload(br#"{"a": "1", "h": {"f": {"x": 1}}}"#, &mut ops).unwrap_err();
        assert_eq!(deep.label(), "too_deep");
        assert!(deep.to_string().contains("\"h\".\"f\""), "{deep}");
        let array = map_payload(b"[1, 2]", &mut ops).unwrap_err();
        assert_eq!(array.to_string(), "payload is a JSON array, not an object");
        let invalid = map_payload(b"{\"a\": nope}", &mut ops).unwrap_err();
        assert_eq!(invalid.label(), "invalid_json");
        assert_eq!(ops, [set("keep", "me")]);
    }
}
