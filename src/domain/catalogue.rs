//! The catalogue: products an order can be made of, priced in KRW (which has no minor unit).

use super::{FieldError, Timestamp};
use serde::{Deserialize, Serialize};

/// The highest unit price: 100,000,000 KRW.
pub const MAX_UNIT_PRICE: u64 = 100_000_000;

/// A product's id: 1–64 characters of `a-z 0-9 - _ .`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sku(String);

impl Sku {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let ok =
            |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.');
        if raw.is_empty() || raw.len() > 64 || !raw.chars().all(ok) {
            return Err(FieldError::new(
                "sku",
                "must be 1 to 64 characters of a-z, 0-9, '-', '_' and '.'",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A product as the catalogue keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub sku: Sku,
    pub name: String,
    /// KRW per unit, 1 to [`MAX_UNIT_PRICE`].
    pub unit_price: u64,
    /// An inactive product can no longer be ordered.
    pub active: bool,
    pub updated_at: Timestamp,
}

/// A product's name: 1–100 characters, none of them control characters.
pub fn check_name(name: &str) -> Result<(), FieldError> {
    let n = name.chars().count();
    if n == 0 || n > 100 || name.chars().any(char::is_control) || name.trim().is_empty() {
        return Err(FieldError::new(
            "name",
            "must be 1 to 100 characters, not only spaces, no control characters",
        ));
    }
    Ok(())
}

/// A unit price in KRW: a whole number from 1 to 100,000,000.
pub fn check_unit_price(price: i64) -> Result<u64, FieldError> {
    match u64::try_from(price) {
        Ok(p @ 1..=MAX_UNIT_PRICE) => Ok(p),
        _ => Err(FieldError::new(
            "unitPrice",
            "must be a whole number of KRW from 1 to 100,000,000",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skus_names_and_prices_follow_the_contract() {
        assert!(Sku::parse("tee-white-m").is_ok());
        assert!(Sku::parse("a.b_c-1").is_ok());
        for bad in ["", "Tee", "tee white", "tee/1", &"x".repeat(65)] {
            assert!(Sku::parse(bad).is_err(), "{bad:?}");
        }
        assert!(check_name("White T-shirt (M)").is_ok());
        for bad in ["", "   ", "a\nb", &"x".repeat(101)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(check_unit_price(19_000), Ok(19_000));
        assert_eq!(check_unit_price(100_000_000), Ok(100_000_000));
        for bad in [0, -1, 100_000_001] {
            assert!(check_unit_price(bad).is_err(), "{bad}");
        }
    }
}
