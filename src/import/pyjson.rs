//! Model files written byte for byte as `training/graph.py` writes them, so that the Rust
//! importer and the Python exporter give identical files from one checkpoint: Python's
//! `json.dumps` (ASCII-only, `(",", ":")` separators, sorted keys for the graph) and the
//! safetensors layout of `graph.write_safetensors`.

use crate::model::HostTensor;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;

/// `json.dumps(s)` of a string (ensure_ascii): quotes, backslashes and the usual control
/// escapes, every other character outside space..tilde as `\uXXXX` (UTF-16 pairs above
/// the basic plane).
fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// `json.dumps(v, sort_keys=sorted, separators=(",", ":"))`. Floats are not written:
/// their Python spelling (`1e-05`) differs from Rust's, and no imported graph needs one.
pub fn dumps(v: &Value, sorted: bool) -> Result<String, String> {
    let mut out = String::new();
    write_value(&mut out, v, sorted)?;
    Ok(out)
}

fn write_value(out: &mut String, v: &Value, sorted: bool) -> Result<(), String> {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if n.is_f64() {
                return Err(format!("a float ({n}) in a document written for Python"));
            }
            let _ = write!(out, "{n}");
        }
        Value::String(s) => string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item, sorted)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            if sorted {
                // Python sorts by code point, which is UTF-8 byte order.
                entries.sort_by(|a, b| a.0.cmp(b.0));
            }
            out.push('{');
            for (i, (k, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(out, k);
                out.push(':');
                write_value(out, item, sorted)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// A model file as `graph.save_model_file` writes it: metadata `format`, `format_version`
/// and `graph` (the sorted, compact JSON of `doc`); tensors in name order, as f16 or f32.
pub fn model_file_bytes(
    doc: &Value,
    tensors: &BTreeMap<String, HostTensor>,
    f16: bool,
) -> Result<Vec<u8>, String> {
    let graph = dumps(doc, true)?;
    let mut header = String::from("{\"__metadata__\":{");
    let meta = [
        ("format", crate::model::FORMAT.to_string()),
        ("format_version", crate::model::FORMAT_VERSION.to_string()),
        ("graph", graph),
    ];
    for (i, (k, v)) in meta.iter().enumerate() {
        if i > 0 {
            header.push(',');
        }
        string(&mut header, k);
        header.push(':');
        string(&mut header, v);
    }
    header.push('}');
    let mut data = Vec::new();
    for (name, t) in tensors {
        let start = data.len();
        for &x in &t.data {
            if f16 {
                data.extend_from_slice(&half::f16::from_f32(x).to_le_bytes());
            } else {
                data.extend_from_slice(&x.to_le_bytes());
            }
        }
        header.push(',');
        string(&mut header, name);
        let dims: Vec<String> = t.shape.iter().map(|d| d.to_string()).collect();
        let _ = write!(
            header,
            ":{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
            if f16 { "F16" } else { "F32" },
            dims.join(","),
            start,
            data.len()
        );
    }
    header.push('}');
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = Vec::with_capacity(8 + header.len() + data.len());
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&data);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_like_python() {
        // json.dumps('a"b\\c\n\x01\x7fé😀 ~')
        let v = Value::String("a\"b\\c\n\u{1}\u{7f}é😀 ~".into());
        assert_eq!(
            dumps(&v, true).unwrap(),
            r#""a\"b\\c\n\u0001\u007f\u00e9\ud83d\ude00 ~""#
        );
    }

    #[test]
    fn objects_sort_and_floats_are_refused() {
        let v = serde_json::json!({"b": [1, -2, true, null], "a": {"y": "x", "x": 0}});
        assert_eq!(
            dumps(&v, true).unwrap(),
            r#"{"a":{"x":0,"y":"x"},"b":[1,-2,true,null]}"#
        );
        assert!(dumps(&serde_json::json!({"eps": 1e-5}), true).is_err());
    }
}
