//! Reading fields that hostile or sloppy servers get wrong, the same way in every
//! parser: a field of the wrong type is treated as absent rather than failing the turn.

use serde::Deserialize;
use serde::Deserializer;
use serde_json::Value;

/// Integral floats above this are not trusted as counts (`1e300`).
const MAX_FLOAT_COUNT: f64 = 9_007_199_254_740_992.0; // 2^53

/// A token count or an index: a non-negative integer, or a float with no fraction up
/// to 2^53 (`12.0`). A negative number, a string (`"12"`), `1e300`, NaN, a boolean or
/// null is `None`: the field counts as unreported.
pub(crate) fn count(v: &Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    let f = v.as_f64()?;
    if f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f <= MAX_FLOAT_COUNT {
        // Checked above: a non-negative integer within 2^53.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(f as u64)
    } else {
        None
    }
}

/// [`count`] of the value at `path`.
pub(crate) fn count_at(v: &Value, path: &[&str]) -> Option<u64> {
    let mut cur = v;
    for key in path {
        cur = cur.get(key)?;
    }
    count(cur)
}

/// `deserialize_with` for an optional count: see [`count`].
pub(crate) fn de_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(count(&Value::deserialize(d)?))
}

/// `deserialize_with` for an optional string: anything but a string is `None`.
pub(crate) fn de_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_plausible_non_negative_integers_are_counts() {
        for (v, want) in [
            (json!(12), Some(12)),
            (json!(0), Some(0)),
            (json!(12.0), Some(12)),
            (json!(-5), None),
            (json!("12"), None),
            (json!(1e300), None),
            (json!(1.5), None),
            (json!(null), None),
            (json!(true), None),
            (json!({"n": 1}), None),
        ] {
            assert_eq!(count(&v), want, "{v}");
        }
        assert_eq!(count_at(&json!({"a": {"b": 3}}), &["a", "b"]), Some(3));
        assert_eq!(count_at(&json!({"a": 3}), &["a", "b"]), None);
    }
}
