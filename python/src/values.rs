//! Python values read as option values: each reader names the option when the value
//! has the wrong type or is out of range.

use std::path::PathBuf;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBool;
use pyo3::types::PyDict;
use pyo3::types::PyString;
use serde_json::Value;

use crate::error::wrong_type;

/// The type name of a Python value, for error messages.
pub(crate) fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_owned())
}

pub(crate) fn got(v: &Bound<'_, PyAny>) -> String {
    match v.repr() {
        Ok(r) => {
            let r = r.to_string();
            if r.chars().count() > 60 {
                format!(
                    "{} ({}…)",
                    type_name(v),
                    r.chars().take(60).collect::<String>()
                )
            } else {
                format!("{} {r}", type_name(v))
            }
        }
        Err(_) => type_name(v),
    }
}

pub(crate) fn string(key: &str, v: &Bound<'_, PyAny>) -> PyResult<String> {
    v.cast::<PyString>()
        .map(|s| s.to_string())
        .map_err(|_| wrong_type(key, "a string", got(v)))
}

pub(crate) fn path(key: &str, v: &Bound<'_, PyAny>) -> PyResult<PathBuf> {
    v.extract::<PathBuf>()
        .map_err(|_| wrong_type(key, "a path (str or os.PathLike)", got(v)))
}

pub(crate) fn boolean(key: &str, v: &Bound<'_, PyAny>) -> PyResult<bool> {
    v.cast::<PyBool>()
        .map(|b| b.is_true())
        .map_err(|_| wrong_type(key, "a bool", got(v)))
}

/// An `int` (not a `bool`) from `min` to `max`.
pub(crate) fn integer(key: &str, v: &Bound<'_, PyAny>, min: u64, max: u64) -> PyResult<u64> {
    let expected = if max >= u64::from(u32::MAX) {
        format!("an int >= {min}")
    } else {
        format!("an int from {min} to {max}")
    };
    if v.is_instance_of::<PyBool>() {
        return Err(wrong_type(key, &expected, got(v)));
    }
    let n: i128 = v
        .extract()
        .map_err(|_| wrong_type(key, &expected, got(v)))?;
    if n < i128::from(min) || n > i128::from(max) {
        return Err(PyValueError::new_err(format!(
            "invalid option `{key}`: expected {expected}, got {n}"
        )));
    }
    // In range: checked above.
    u64::try_from(n).map_err(|_| wrong_type(key, &expected, n))
}

pub(crate) fn u32_option(key: &str, v: &Bound<'_, PyAny>, min: u32) -> PyResult<u32> {
    let n = integer(key, v, u64::from(min), u64::from(u32::MAX))?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

pub(crate) fn string_map(key: &str, v: &Bound<'_, PyAny>) -> PyResult<Vec<(String, String)>> {
    let dict = v
        .cast::<PyDict>()
        .map_err(|_| wrong_type(key, "a dict of str to str", got(v)))?;
    let mut pairs = Vec::with_capacity(dict.len());
    for (k, val) in dict.iter() {
        let name = string(key, &k)?;
        let value = val
            .cast::<PyString>()
            .map_err(|_| wrong_type(&format!("{key}[{name:?}]"), "a string", got(&val)))?;
        pairs.push((name, value.to_string()));
    }
    pairs.sort();
    Ok(pairs)
}

/// A list (or tuple) of strings.
pub(crate) fn strings(key: &str, v: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    if v.is_instance_of::<PyString>() {
        return Err(wrong_type(key, "a list of strings", got(v)));
    }
    let items: Vec<Bound<'_, PyAny>> = v
        .try_iter()
        .map_err(|_| wrong_type(key, "a list of strings", got(v)))?
        .collect::<PyResult<_>>()?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| string(&format!("{key}[{i}]"), item))
        .collect()
}

/// A list (or tuple) of paths (str or os.PathLike).
pub(crate) fn paths(key: &str, v: &Bound<'_, PyAny>) -> PyResult<Vec<PathBuf>> {
    if v.is_instance_of::<PyString>() {
        return Err(wrong_type(key, "a list of paths", got(v)));
    }
    let items: Vec<Bound<'_, PyAny>> = v
        .try_iter()
        .map_err(|_| wrong_type(key, "a list of paths", got(v)))?
        .collect::<PyResult<_>>()?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| path(&format!("{key}[{i}]"), item))
        .collect()
}

/// A Python value as JSON (dicts, lists, str, int, float, bool, None).
pub(crate) fn json(key: &str, v: &Bound<'_, PyAny>) -> PyResult<Value> {
    pythonize::depythonize::<Value>(v).map_err(|e| {
        wrong_type(
            key,
            "a JSON-like value (dict, list, str, int, float, bool, None)",
            e,
        )
    })
}
