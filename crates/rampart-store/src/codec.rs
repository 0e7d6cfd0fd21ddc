//! How records and entities are written as column values and read back, shared by every
//! backend: both store JSON as text, enums by their names and unsigned 64-bit numbers as the
//! signed 64-bit integer with the same bits. A stored value that cannot be read back is
//! [`StoreError::Corrupt`], naming the table, row and column.

use std::fmt::Display;

use rampart_core::config::Attributes;
use rampart_core::{EntityKind, Reason};

use crate::error::{Result, StoreError};

/// JSON text of a value written with a record; a failure is the record's fault.
pub(crate) fn to_json<T: serde::Serialize>(value: &T, index: usize, what: &str) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::InvalidRecord {
        index,
        reason: format!("the {what} cannot be written as JSON: {e}"),
    })
}

/// JSON text of attributes or segments (`{}` when empty, without calling the serializer).
pub(crate) fn attributes_json(attributes: &Attributes, index: usize) -> Result<String> {
    if attributes.is_empty() {
        return Ok("{}".to_owned());
    }
    serde_json::to_string(attributes).map_err(|e| StoreError::InvalidRecord {
        index,
        reason: format!("attributes cannot be written as JSON: {e}"),
    })
}

/// Refuses an event value no backend stores faithfully (SQLite turns NaN into NULL).
pub(crate) fn check_value(id: &str, value: Option<f64>, index: usize) -> Result<()> {
    match value.filter(|v| !v.is_finite()) {
        Some(v) => Err(StoreError::InvalidRecord {
            index,
            reason: format!("event {id:?} has the non-finite value {v}"),
        }),
        None => Ok(()),
    }
}

/// Reads back a JSON column.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    text: &str,
    table: &str,
    column: &str,
    key: &dyn Display,
) -> Result<T> {
    serde_json::from_str(text).map_err(|e| {
        StoreError::Corrupt(format!(
            "{table} row {key}: column {column} is not valid JSON: {e}"
        ))
    })
}

pub(crate) fn reason(text: &str, table: &str, key: &dyn Display) -> Result<Reason> {
    Reason::parse(text)
        .ok_or_else(|| StoreError::Corrupt(format!("{table} row {key}: unknown reason {text:?}")))
}

pub(crate) fn kind(text: &str, table: &str, key: &dyn Display) -> Result<EntityKind> {
    EntityKind::parse(text)
        .ok_or_else(|| StoreError::Corrupt(format!("{table} row {key}: unknown kind {text:?}")))
}

/// The entity an exposure was assigned under, from its two nullable columns.
pub(crate) fn entity(
    kind_text: Option<String>,
    name: Option<String>,
    table: &str,
    key: &dyn Display,
) -> Result<Option<(EntityKind, String)>> {
    match (kind_text, name) {
        (None, None) => Ok(None),
        (Some(k), Some(name)) => {
            let kind = EntityKind::parse(&k).ok_or_else(|| {
                StoreError::Corrupt(format!("{table} row {key}: unknown entity kind {k:?}"))
            })?;
            Ok(Some((kind, name)))
        }
        _ => Err(StoreError::Corrupt(format!(
            "{table} row {key}: entity_kind and entity_name must both be set or both be null"
        ))),
    }
}

/// The two columns an exposure's entity is written as.
pub(crate) fn entity_columns(
    entity: &Option<(EntityKind, String)>,
) -> (Option<&str>, Option<&str>) {
    match entity {
        Some((kind, name)) => (Some(kind.as_str()), Some(name.as_str())),
        None => (None, None),
    }
}
