//! API keys and roles: what a key is, how it is made and kept (only as a keyed hash), the
//! registry every request is authenticated against, and the limits on callers.

pub mod key;
mod keys;
mod limits;
mod record;

pub use key::{ApiKey, KeyHasher, KeyId, Role};
pub use keys::{Bootstrap, Caller, KeyError, Keys, NewKey, bootstrap};
pub use limits::{Limits, RateLimited};
pub use record::{AuditEntry, KeyRecord, action};
