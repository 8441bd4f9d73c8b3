//! Identifiers: server-assigned numeric ids and the validated customer id.

use super::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! numeric_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

numeric_id!(
    /// A payment-method aggregate's id: positive, assigned by the server, never reused.
    PaymethodId
);
numeric_id!(
    /// A payment record's id.
    PaymentId
);
numeric_id!(
    /// A message's id: its event's position, so an event has at most one message.
    MessageId
);
numeric_id!(
    /// A position in the global event log; the first event is at 1.
    Position
);

/// A customer's id: 1 to 64 characters of `A-Z a-z 0-9 _ . -`, except `.` and `..`, which
/// a path (`/mypages/{customerId}`) cannot carry: clients and proxies resolve them away.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CustomerId(String);

impl CustomerId {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
        if raw.is_empty() || raw.len() > 64 {
            return Err(FieldError::new(
                "customerId",
                "must be 1 to 64 characters long",
            ));
        }
        if !raw.chars().all(ok_char) {
            return Err(FieldError::new(
                "customerId",
                "may contain only A-Z, a-z, 0-9, '_', '.' and '-'",
            ));
        }
        if matches!(raw, "." | "..") {
            return Err(FieldError::new("customerId", "must not be \".\" or \"..\""));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A client's `Idempotency-Key`: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Option<Self> {
        let visible = |b: u8| (0x21..=0x7e).contains(&b);
        (!raw.is_empty() && raw.len() <= 255 && raw.bytes().all(visible))
            .then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_ids_accept_the_documented_alphabet_only() {
        assert!(CustomerId::parse("alice").is_ok());
        assert!(CustomerId::parse("A.b_c-9").is_ok());
        assert!(CustomerId::parse(&"x".repeat(64)).is_ok());
        assert!(CustomerId::parse("").is_err());
        assert!(CustomerId::parse(&"x".repeat(65)).is_err());
        assert!(CustomerId::parse("al ice").is_err());
        assert!(CustomerId::parse("alice/1").is_err());
        assert!(CustomerId::parse("ålice").is_err());
    }

    #[test]
    fn dot_and_dot_dot_are_not_customer_ids_since_paths_would_lose_them() {
        for raw in [".", ".."] {
            let e = CustomerId::parse(raw).unwrap_err();
            assert_eq!(e.field, "customerId");
        }
        assert!(CustomerId::parse("...").is_ok());
        assert!(CustomerId::parse(".alice").is_ok());
        assert!(CustomerId::parse("a..b").is_ok());
    }

    #[test]
    fn idempotency_keys_are_one_to_255_visible_ascii_characters() {
        assert!(IdempotencyKey::parse("k-1").is_some());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_some());
        assert!(IdempotencyKey::parse("").is_none());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_none());
        assert!(IdempotencyKey::parse("has space").is_none());
        assert!(IdempotencyKey::parse("tab\t").is_none());
    }
}
