//! Input and calibration JSON.
//!
//! Accepted layouts (numbers may be nested arbitrarily; each sample is flattened row-major):
//! - EZKL's `{"input_data": [[...], ...]}`: each row is one or more samples concatenated
//!   (EZKL batches calibration rows this way); a row of `k * n` values is `k` samples.
//! - `{"inputs": [[...], ...]}` or `{"input": [...]}`.
//! - A bare array: `[...]` (one sample) or `[[...], ...]` (one sample per row).

use serde_json::Value;

use crate::error::{ModelError, Result};

/// Largest JSON document accepted for inputs/calibration (bytes).
pub const MAX_INPUT_JSON_BYTES: usize = 64 * 1024 * 1024;
/// Most calibration samples used.
pub const MAX_SAMPLES: usize = 100_000;

fn flatten_into(v: &Value, out: &mut Vec<f64>, path: &str) -> Result<()> {
    match v {
        Value::Number(n) => {
            let f = n
                .as_f64()
                .ok_or_else(|| ModelError::InputJson(format!("{path}: not a number")))?;
            out.push(f);
            Ok(())
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                flatten_into(x, out, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        Value::String(s) => match s.as_str() {
            "NaN" | "nan" => {
                out.push(f64::NAN);
                Ok(())
            }
            "inf" | "Infinity" | "+inf" => {
                out.push(f64::INFINITY);
                Ok(())
            }
            "-inf" | "-Infinity" => {
                out.push(f64::NEG_INFINITY);
                Ok(())
            }
            _ => Err(ModelError::InputJson(format!(
                "{path}: expected a number, found the string {s:?}"
            ))),
        },
        Value::Null => Err(ModelError::InputJson(format!(
            "{path}: null is not a number (NaN?)"
        ))),
        other => Err(ModelError::InputJson(format!(
            "{path}: expected a number, found {other}"
        ))),
    }
}

fn rows_of(doc: &Value) -> Result<(Vec<&Value>, &'static str)> {
    let top = match doc {
        Value::Object(o) => {
            if let Some(v) = o.get("input_data") {
                ("input_data", v)
            } else if let Some(v) = o.get("inputs") {
                ("inputs", v)
            } else if let Some(v) = o.get("input") {
                return Ok((vec![v], "input"));
            } else {
                let keys: Vec<&str> = o.keys().map(String::as_str).collect();
                return Err(ModelError::InputJson(format!(
                    "expected a key `input_data`, `inputs` or `input`; found {keys:?}"
                )));
            }
        }
        Value::Array(_) => ("$", doc),
        other => {
            return Err(ModelError::InputJson(format!(
                "expected an object or array, found {other}"
            )))
        }
    };
    match top.1 {
        Value::Array(a) if a.iter().all(|x| x.is_array()) && !a.is_empty() => {
            Ok((a.iter().collect(), top.0))
        }
        Value::Array(a) if a.is_empty() => {
            Err(ModelError::InputJson(format!("`{}` is empty", top.0)))
        }
        v @ Value::Array(_) => Ok((vec![v], top.0)),
        other => Err(ModelError::InputJson(format!(
            "`{}` must be an array, found {other}",
            top.0
        ))),
    }
}

/// Parse a document holding samples of `n` values each.
pub fn parse_samples(bytes: &[u8], n: usize, shape: &[usize]) -> Result<Vec<Vec<f64>>> {
    if bytes.len() > MAX_INPUT_JSON_BYTES {
        return Err(ModelError::InputJson(format!(
            "document is {} bytes, larger than the {MAX_INPUT_JSON_BYTES} byte limit",
            bytes.len()
        )));
    }
    let doc: Value =
        serde_json::from_slice(bytes).map_err(|e| ModelError::InputJson(e.to_string()))?;
    let (rows, key) = rows_of(&doc)?;
    let mut samples = Vec::new();
    for (r, row) in rows.iter().enumerate() {
        let mut flat = Vec::new();
        flatten_into(row, &mut flat, &format!("{key}[{r}]"))?;
        if n == 0 || flat.is_empty() || flat.len() % n != 0 {
            return Err(ModelError::WrongInputShape {
                expected_shape: shape.to_vec(),
                expected_len: n,
                got: flat.len(),
            });
        }
        for chunk in flat.chunks(n) {
            samples.push(chunk.to_vec());
            if samples.len() > MAX_SAMPLES {
                return Err(ModelError::InputJson(format!(
                    "more than {MAX_SAMPLES} samples"
                )));
            }
        }
    }
    for (s, sample) in samples.iter().enumerate() {
        if let Some((i, &v)) = sample.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(ModelError::NonFiniteInput {
                index: s * n + i,
                value: v,
            });
        }
    }
    Ok(samples)
}

/// Parse exactly one input sample of `n` values.
pub fn parse_single(bytes: &[u8], n: usize, shape: &[usize]) -> Result<Vec<f64>> {
    let mut s = parse_samples(bytes, n, shape)?;
    if s.len() != 1 {
        return Err(ModelError::WrongInputShape {
            expected_shape: shape.to_vec(),
            expected_len: n,
            got: s.len() * n,
        });
    }
    Ok(s.remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        let s = parse_samples(br#"{"input_data": [[1, 2, 3, 4]]}"#, 2, &[1, 2]).unwrap_or_default();
        assert_eq!(s, vec![vec![1.0, 2.0], vec![3.0, 4.0]]);
        let s = parse_samples(br#"[[1, 2], [3, 4]]"#, 2, &[1, 2]).unwrap_or_default();
        assert_eq!(s.len(), 2);
        let s = parse_single(br#"{"input": [[[1.5]], [[2]]]}"#, 2, &[1, 2]).unwrap_or_default();
        assert_eq!(s, vec![1.5, 2.0]);
        let s = parse_single(br#"[0.25, 0.5]"#, 2, &[1, 2]).unwrap_or_default();
        assert_eq!(s, vec![0.25, 0.5]);
    }

    #[test]
    fn errors() {
        assert!(matches!(
            parse_single(b"{", 2, &[2]),
            Err(ModelError::InputJson(_))
        ));
        assert!(matches!(
            parse_single(br#"[1,2,3]"#, 2, &[2]),
            Err(ModelError::WrongInputShape { got: 3, .. })
        ));
        assert!(matches!(
            parse_single(br#"[1,"NaN"]"#, 2, &[2]),
            Err(ModelError::NonFiniteInput { index: 1, .. })
        ));
        assert!(matches!(
            parse_single(br#"[1,null]"#, 2, &[2]),
            Err(ModelError::InputJson(_))
        ));
        assert!(matches!(
            parse_single(br#"{"x": 1}"#, 2, &[2]),
            Err(ModelError::InputJson(_))
        ));
        assert!(matches!(
            parse_single(br#"[[1,2],[3,4]]"#, 2, &[2]),
            Err(ModelError::WrongInputShape { .. })
        ));
    }
}
