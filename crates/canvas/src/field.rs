//! Reading and writing single fields whatever type another writer used.
//!
//! JavaScript Automerge 3 stores strings as `Text` objects, other writers as
//! scalar strings; numbers arrive as `Int`, `Uint`, `F64` or `Timestamp`.
//! Every reader in this crate goes through these helpers, so a canvas written
//! by any of them reads the same.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ReadDoc, ScalarValue, Value};

use crate::error::Result;

/// A string stored either as a `Text` object or as a scalar string.
pub(crate) fn string_of<R: ReadDoc>(doc: &R, value: &Value<'_>, id: &ObjId) -> Option<String> {
    match value {
        Value::Object(ObjType::Text) => doc.text(id).ok(),
        Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Str(s) => Some(s.to_string()),
            _ => None,
        },
        _ => None,
    }
}

/// The string at `obj[key]`, a `Text` or a scalar string.
pub(crate) fn get_string<R: ReadDoc>(doc: &R, obj: &ObjId, key: &str) -> Option<String> {
    let (value, id) = doc.get(obj, key).ok()??;
    string_of(doc, &value, &id)
}

/// A whole number stored as `Int`, `Uint`, `F64`, `Timestamp` or `Counter`.
pub(crate) fn int_of(value: &Value<'_>) -> Option<i64> {
    let Value::Scalar(s) = value else {
        return None;
    };
    match s.as_ref() {
        ScalarValue::Int(i) | ScalarValue::Timestamp(i) => Some(*i),
        ScalarValue::Uint(u) => i64::try_from(*u).ok(),
        // JavaScript numbers that are not integers; ms values fit in f64.
        ScalarValue::F64(f) if f.is_finite() => Some(f.round() as i64),
        ScalarValue::Counter(c) => Some(i64::from(c)),
        _ => None,
    }
}

/// The number at `obj[key]`, whatever numeric type it was written with.
pub(crate) fn get_int<R: ReadDoc>(doc: &R, obj: &ObjId, key: &str) -> Option<i64> {
    let (value, _) = doc.get(obj, key).ok()??;
    int_of(&value)
}

/// The boolean at `obj[key]`.
pub(crate) fn get_bool<R: ReadDoc>(doc: &R, obj: &ObjId, key: &str) -> Option<bool> {
    match doc.get(obj, key).ok()?? {
        (Value::Scalar(s), _) => match s.as_ref() {
            ScalarValue::Boolean(b) => Some(*b),
            _ => None,
        },
        _ => None,
    }
}

/// The map object at `obj[key]`, if that is a map.
pub(crate) fn get_map<R: ReadDoc>(doc: &R, obj: &ObjId, key: &str) -> Option<ObjId> {
    match doc.get(obj, key).ok()?? {
        (Value::Object(ObjType::Map), id) => Some(id),
        _ => None,
    }
}

/// Whether a set-like map entry (`{ <key>: true }`) counts as present: any
/// value but `false` and `null`, since writers differ in what they store.
pub(crate) fn is_set(value: &Value<'_>) -> bool {
    match value {
        Value::Scalar(s) => !matches!(s.as_ref(), ScalarValue::Boolean(false) | ScalarValue::Null),
        Value::Object(_) => true,
    }
}

/// The keys of the set-like map at `obj[key]`, sorted.
pub(crate) fn get_set<R: ReadDoc>(doc: &R, obj: &ObjId, key: &str) -> Vec<String> {
    let Some(map) = get_map(doc, obj, key) else {
        return Vec::new();
    };
    let mut keys: Vec<String> = doc
        .keys(&map)
        .filter(|k| matches!(doc.get(&map, k.as_str()), Ok(Some((v, _))) if is_set(&v)))
        .collect();
    keys.sort();
    keys
}

/// Sets `obj[key]` to `value` as a `Text` object, editing an existing `Text`
/// character by character (so concurrent edits merge) and only creating a
/// new object when there is none (or a scalar string from another writer).
pub(crate) fn put_text(doc: &mut AutoCommit, obj: &ObjId, key: &str, value: &str) -> Result<()> {
    let text = match doc.get(obj, key)? {
        Some((Value::Object(ObjType::Text), id)) => id,
        _ => doc.put_object(obj, key, ObjType::Text)?,
    };
    // update_text diffs by grapheme and converts to the document's own text
    // indexing (code points by default, UTF-16 in some builds), so it is
    // right for any text whatever the encoding.
    doc.update_text(&text, value)?;
    Ok(())
}

/// The map at `obj[key]`, created when missing (or of another type).
pub(crate) fn ensure_map(doc: &mut AutoCommit, obj: &ObjId, key: &str) -> Result<ObjId> {
    match get_map(doc, obj, key) {
        Some(id) => Ok(id),
        None => Ok(doc.put_object(obj, key, ObjType::Map)?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::ROOT;

    #[test]
    fn strings_read_from_text_or_scalar() {
        let mut doc = AutoCommit::new();
        doc.put(&ROOT, "plain", "héllo 👋").unwrap();
        let t = doc.put_object(&ROOT, "text", ObjType::Text).unwrap();
        doc.splice_text(&t, 0, 0, "héllo 👋").unwrap();
        doc.put(&ROOT, "number", 3).unwrap();
        assert_eq!(get_string(&doc, &ROOT, "plain").unwrap(), "héllo 👋");
        assert_eq!(get_string(&doc, &ROOT, "text").unwrap(), "héllo 👋");
        assert_eq!(get_string(&doc, &ROOT, "number"), None);
        assert_eq!(get_string(&doc, &ROOT, "missing"), None);
    }

    #[test]
    fn numbers_read_from_every_numeric_type() {
        let mut doc = AutoCommit::new();
        doc.put(&ROOT, "int", ScalarValue::Int(-5)).unwrap();
        doc.put(&ROOT, "uint", ScalarValue::Uint(7)).unwrap();
        doc.put(&ROOT, "f64", ScalarValue::F64(1_700_000_000_123.0))
            .unwrap();
        doc.put(&ROOT, "ts", ScalarValue::Timestamp(1_700_000_000_000))
            .unwrap();
        doc.put(&ROOT, "big", ScalarValue::Uint(u64::MAX)).unwrap();
        doc.put(&ROOT, "nan", ScalarValue::F64(f64::NAN)).unwrap();
        doc.put(&ROOT, "str", "12").unwrap();
        assert_eq!(get_int(&doc, &ROOT, "int"), Some(-5));
        assert_eq!(get_int(&doc, &ROOT, "uint"), Some(7));
        assert_eq!(get_int(&doc, &ROOT, "f64"), Some(1_700_000_000_123));
        assert_eq!(get_int(&doc, &ROOT, "ts"), Some(1_700_000_000_000));
        assert_eq!(get_int(&doc, &ROOT, "big"), None);
        assert_eq!(get_int(&doc, &ROOT, "nan"), None);
        assert_eq!(get_int(&doc, &ROOT, "str"), None);
    }

    #[test]
    fn put_text_edits_in_place_and_replaces_scalars() {
        let mut doc = AutoCommit::new();
        put_text(&mut doc, &ROOT, "t", "café").unwrap();
        let (_, first) = doc.get(&ROOT, "t").unwrap().unwrap();
        put_text(&mut doc, &ROOT, "t", "un café ☕ crème").unwrap();
        let (_, second) = doc.get(&ROOT, "t").unwrap().unwrap();
        assert_eq!(first, second, "the Text object is kept, not replaced");
        assert_eq!(get_string(&doc, &ROOT, "t").unwrap(), "un café ☕ crème");

        doc.put(&ROOT, "s", "scalar").unwrap();
        put_text(&mut doc, &ROOT, "s", "now text").unwrap();
        assert!(matches!(
            doc.get(&ROOT, "s").unwrap().unwrap().0,
            Value::Object(ObjType::Text)
        ));
        assert_eq!(get_string(&doc, &ROOT, "s").unwrap(), "now text");
    }

    #[test]
    fn sets_ignore_false_and_null() {
        let mut doc = AutoCommit::new();
        let m = doc.put_object(&ROOT, "tags", ObjType::Map).unwrap();
        doc.put(&m, "b", true).unwrap();
        doc.put(&m, "a", true).unwrap();
        doc.put(&m, "off", false).unwrap();
        doc.put(&m, "gone", ScalarValue::Null).unwrap();
        doc.put(&m, "one", 1).unwrap();
        assert_eq!(get_set(&doc, &ROOT, "tags"), ["a", "b", "one"]);
        assert_eq!(get_set(&doc, &ROOT, "nothing"), Vec::<String>::new());
        assert_eq!(get_bool(&doc, &m, "b"), Some(true));
        assert_eq!(get_bool(&doc, &m, "one"), None);
    }
}
