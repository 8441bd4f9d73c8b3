//! An API key: `ptk_` and the base62 form of 32 random bytes. The plaintext exists only in
//! the response that creates it; paytree keeps a keyed hash of it (the hash is the lookup
//! key, so no secret is ever compared in application code), a non-secret id (`key_…`) and a
//! display prefix (`ptk_` and four characters).

use hmac::{Hmac, Mac};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;

const PREFIX: &str = "ptk_";
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including `/admin/*`, `/metrics` and key management.
    Admin,
    /// A merchant's backend: every customer route, for any customer; no `/admin/*`.
    Service,
    /// The catalogue, shipments and reading orders; no payment methods.
    Seller,
    /// Bound to one customer: only that customer's objects.
    Customer,
    /// `GET /metrics` only.
    Metrics,
}

impl Role {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "admin" => Self::Admin,
            "service" => Self::Service,
            "seller" => Self::Seller,
            "customer" => Self::Customer,
            "metrics" => Self::Metrics,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Service => "service",
            Self::Seller => "seller",
            Self::Customer => "customer",
            Self::Metrics => "metrics",
        }
    }
}

/// A key's id: not secret, named in lists, audits and `DELETE /admin/keys/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(String);

impl KeyId {
    /// A fresh random id.
    pub fn generate() -> Self {
        Self(format!(
            "key_{}",
            hex::encode(rand::rng().random::<[u8; 12]>())
        ))
    }

    /// An id as written (`key_` and 24 lowercase hex digits), else `None`.
    pub fn parse(raw: &str) -> Option<Self> {
        let hex = raw.strip_prefix("key_")?;
        (hex.len() == 24 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A key in plaintext, as a client sends it. Its `Debug` shows only the display prefix.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// A new key from 32 random bytes.
    pub fn generate() -> Self {
        Self::from_bytes(&rand::rng().random::<[u8; 32]>())
    }

    fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self(format!("{PREFIX}{}", base62(bytes)))
    }

    /// A key as written (`ptk_` and at least 32 characters of `A-Z a-z 0-9`), else `None`.
    pub fn parse(raw: &str) -> Option<Self> {
        let body = raw.strip_prefix(PREFIX)?;
        (body.len() >= 32 && body.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then(|| Self(raw.to_owned()))
    }

    /// The key from an `Authorization: Bearer <key>` header value, else `None`.
    pub fn from_bearer(header: &str) -> Option<Self> {
        let (scheme, key) = header.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        Self::parse(key.trim())
    }

    /// What lists show of it: `ptk_` and its first four characters.
    pub fn display_prefix(&self) -> &str {
        &self.0[..PREFIX.len() + 4]
    }

    /// The plaintext, for the one response that creates it (and `admin.key`).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({}…)", self.display_prefix())
    }
}

/// The keyed hash keys are stored and looked up by, under this installation's secret: the
/// store alone does not let anyone check a guessed key.
#[derive(Clone)]
pub struct KeyHasher {
    secret: [u8; 32],
}

impl KeyHasher {
    pub fn new(secret: [u8; 32]) -> Self {
        Self { secret }
    }

    /// HMAC-SHA256 of the key, in hex.
    pub fn hash(&self, key: &ApiKey) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret)
            .expect("HMAC takes a key of any length");
        mac.update(b"paytree api key\0");
        mac.update(key.0.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

impl fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyHasher(<secret>)")
    }
}

/// `bytes` as a big-endian number in base 62, most significant digit first.
fn base62(bytes: &[u8; 32]) -> String {
    let mut number = bytes.to_vec();
    let mut digits = Vec::with_capacity(44);
    while number.iter().any(|&b| b != 0) {
        let mut remainder = 0u32;
        for byte in number.iter_mut() {
            let value = (remainder << 8) | u32::from(*byte);
            *byte = (value / 62) as u8;
            remainder = value % 62;
        }
        digits.push(BASE62[remainder as usize]);
    }
    // Leading zero bytes would give a shorter string: pad so every key has the same length.
    while digits.len() < 43 {
        digits.push(BASE62[0]);
    }
    digits.reverse();
    String::from_utf8(digits).expect("base62 digits are ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_ptk_and_43_base62_characters_and_parses_back() {
        for _ in 0..100 {
            let key = ApiKey::generate();
            let text = key.expose();
            assert!(text.starts_with("ptk_"), "{text}");
            assert_eq!(text.len(), 4 + 43, "{text}");
            assert_eq!(ApiKey::parse(text), Some(key.clone()));
            assert_eq!(key.display_prefix(), &text[..8]);
        }
    }

    #[test]
    fn base62_is_the_number_the_bytes_spell() {
        let mut one = [0u8; 32];
        one[31] = 1;
        assert_eq!(base62(&one), format!("{}1", "0".repeat(42)));
        let mut sixty_two = [0u8; 32];
        sixty_two[31] = 62;
        assert_eq!(base62(&sixty_two), format!("{}10", "0".repeat(41)));
        let max = base62(&[0xff; 32]);
        assert_eq!(max.len(), 43, "2^256 - 1 needs 43 base62 digits");
        assert_ne!(base62(&[0xff; 32]), base62(&[0xfe; 32]));
    }

    #[test]
    fn malformed_keys_and_other_schemes_are_refused() {
        let good = ApiKey::generate();
        for bad in [
            "",
            "ptk_",
            "ptk_short",
            "pk_0123456789abcdefghijABCDEFGHIJ0123",
            "ptk_0123456789abcdefghijABCDEFGHIJ-123",
        ] {
            assert_eq!(ApiKey::parse(bad), None, "{bad}");
        }
        let header = format!("Bearer {}", good.expose());
        assert_eq!(ApiKey::from_bearer(&header), Some(good.clone()));
        let lower = format!("bearer {}", good.expose());
        assert_eq!(ApiKey::from_bearer(&lower), Some(good.clone()));
        let basic = format!("Basic {}", good.expose());
        assert_eq!(ApiKey::from_bearer(&basic), None);
        assert_eq!(ApiKey::from_bearer(good.expose()), None);
    }

    #[test]
    fn a_key_is_stored_only_as_a_hash_that_depends_on_the_secret() {
        let key = ApiKey::generate();
        let hash = KeyHasher::new([1; 32]).hash(&key);
        assert_eq!(
            hash,
            KeyHasher::new([1; 32]).hash(&key),
            "the same key, the same hash"
        );
        assert_ne!(
            hash,
            KeyHasher::new([2; 32]).hash(&key),
            "another secret, another hash"
        );
        assert_ne!(hash, KeyHasher::new([1; 32]).hash(&ApiKey::generate()));
        assert!(
            !hash.contains(&key.expose()[4..]),
            "the hash does not carry the key"
        );
        assert!(
            !format!("{key:?}").contains(&key.expose()[8..]),
            "Debug shows the prefix only"
        );
    }

    #[test]
    fn roles_are_named_as_the_contract_names_them() {
        for role in [
            Role::Admin,
            Role::Service,
            Role::Seller,
            Role::Customer,
            Role::Metrics,
        ] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
        let id = KeyId::generate();
        assert_eq!(KeyId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(KeyId::parse("key_123"), None);
        assert_eq!(KeyId::parse(&id.as_str().to_uppercase()), None);
        assert_ne!(KeyId::generate(), KeyId::generate());
    }
}
