//! Values between Rust and PostgreSQL columns: records as `bytea` in the embedded store's
//! codec, and the store's unsigned numbers as `bigint`. A number PostgreSQL cannot hold is
//! an error, never a silent wrap.

use super::PgError;
use crate::domain::Payload;
use crate::store::codec;
use serde::{Serialize, de::DeserializeOwned};

/// `value` in the codec, for a `record` column.
pub(super) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, PgError> {
    codec::encode(value).map_err(|e| PgError::Encode(e.to_string()))
}

/// A `record` column's value.
pub(super) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, PgError> {
    codec::decode(bytes).map_err(|e| PgError::Decode(e.to_string()))
}

/// An event row's `payload` (the codec-encoded [`Payload`]; see migration 0004).
pub fn decode_payload(bytes: &[u8]) -> Result<Payload, PgError> {
    decode(bytes)
}

/// An id, version or position as a `bigint`.
pub(super) fn int(value: u64) -> Result<i64, PgError> {
    i64::try_from(value).map_err(|_| PgError::Encode(format!("{value} does not fit a bigint")))
}

/// A `bigint` column as the store's unsigned number.
pub(super) fn uint(value: i64) -> Result<u64, PgError> {
    u64::try_from(value).map_err(|_| PgError::Decode(format!("a negative number: {value}")))
}

/// A listing's lower bound (`id > after`): one past every `bigint` lists nothing, as in
/// the embedded store.
pub(super) fn past(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A listing's `limit` as `LIMIT` (no `bigint` listing holds more than `i64::MAX` rows).
pub(super) fn at_most(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// `limit` plus one: the row that tells whether more follow.
pub(super) fn one_more_than(value: usize) -> i64 {
    at_most(value).saturating_add(1)
}
