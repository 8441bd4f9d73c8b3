//! Card and bank-account numbers. The full digits live only inside [`AccountNumber`], whose
//! `Debug` and `Display` print the masked form; the digits leave it only through
//! [`AccountNumber::expose_digits`], which the payment-system client alone calls.

use super::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What kind of payment method a number belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Card,
    Bank,
}

impl Kind {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        match raw {
            "card" => Ok(Self::Card),
            "bank" => Ok(Self::Bank),
            _ => Err(FieldError::new("kind", "must be \"card\" or \"bank\"")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Card => "card",
            Self::Bank => "bank",
        }
    }
}

/// A card's brand, read from its leading digits (the issuer identification number).
/// Stored by variant index: new brands go at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Brand {
    Visa,
    Mastercard,
    Amex,
    Unknown,
    Discover,
    Jcb,
    Unionpay,
    Diners,
}

impl Brand {
    /// Visa 4; Mastercard 51–55, 2221–2720; Amex 34, 37; Discover 6011, 644–649, 65;
    /// JCB 3528–3589; UnionPay 62, 81; Diners Club 300–305, 3095, 36, 38–39; else unknown.
    fn of(digits: &str) -> Self {
        let prefix = |n: usize| digits.get(..n).and_then(|p| p.parse::<u32>().ok());
        match (prefix(1), prefix(2), prefix(3), prefix(4)) {
            (Some(4), ..) => Self::Visa,
            (_, Some(51..=55), ..) | (.., Some(2221..=2720)) => Self::Mastercard,
            (_, Some(34 | 37), ..) => Self::Amex,
            (_, Some(65), ..) | (_, _, Some(644..=649), _) | (.., Some(6011)) => Self::Discover,
            (.., Some(3528..=3589)) => Self::Jcb,
            (_, Some(62 | 81), ..) => Self::Unionpay,
            (_, Some(36 | 38 | 39), ..) | (_, _, Some(300..=305), _) | (.., Some(3095)) => {
                Self::Diners
            }
            _ => Self::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Visa => "visa",
            Self::Mastercard => "mastercard",
            Self::Amex => "amex",
            Self::Unknown => "unknown",
            Self::Discover => "discover",
            Self::Jcb => "jcb",
            Self::Unionpay => "unionpay",
            Self::Diners => "diners",
        }
    }
}

/// A validated card or bank-account number.
#[derive(Clone, PartialEq, Eq)]
pub struct AccountNumber {
    kind: Kind,
    digits: String,
}

impl AccountNumber {
    /// Parses `raw` as a number of `kind`, ignoring spaces and dashes.
    /// Cards: 12–19 digits with a valid Luhn check digit. Bank accounts: 6–20 digits.
    /// Error messages never repeat the number.
    pub fn parse(kind: Kind, raw: &str) -> Result<Self, FieldError> {
        let err = |m: &str| FieldError::new("number", m);
        let digits = digits_of(raw)?;
        match kind {
            Kind::Card if !(12..=19).contains(&digits.len()) => {
                Err(err("a card number has 12 to 19 digits"))
            }
            Kind::Card if !luhn_valid(&digits) => Err(err("fails the Luhn check")),
            Kind::Bank if !(6..=20).contains(&digits.len()) => {
                Err(err("a bank account number has 6 to 20 digits"))
            }
            _ => Ok(Self { kind, digits }),
        }
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The card brand; `None` for bank accounts.
    pub fn brand(&self) -> Option<Brand> {
        (self.kind == Kind::Card).then(|| Brand::of(&self.digits))
    }

    pub fn last4(&self) -> String {
        self.digits[self.digits.len() - 4..].to_owned()
    }

    pub fn masked(&self) -> String {
        mask(self.kind, &self.last4())
    }

    /// The full digits, for the request to the payment system and nothing else.
    pub fn expose_digits(&self) -> &str {
        &self.digits
    }
}

/// The digits of `raw`, which may contain only digits, spaces and dashes. This much can be
/// checked before the number's kind is known.
pub fn digits_of(raw: &str) -> Result<String, FieldError> {
    let mut digits = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' => {}
            _ => {
                return Err(FieldError::new(
                    "number",
                    "may contain only digits, spaces and dashes",
                ));
            }
        }
    }
    if digits.is_empty() {
        return Err(FieldError::new("number", "must contain digits"));
    }
    Ok(digits)
}

/// The masked form of a number from its kind and last four digits:
/// `**** **** **** 4242` for cards, `******6789` for bank accounts.
pub fn mask(kind: Kind, last4: &str) -> String {
    match kind {
        Kind::Card => format!("**** **** **** {last4}"),
        Kind::Bank => format!("******{last4}"),
    }
}

impl fmt::Debug for AccountNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountNumber({:?}, {})", self.kind, self.masked())
    }
}

impl fmt::Display for AccountNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// `payload` (digits) followed by the check digit that makes it pass the Luhn check: for
/// making valid test numbers in load tests and benchmarks.
pub fn with_check_digit(payload: &str) -> String {
    (0..10)
        .map(|d| format!("{payload}{d}"))
        .find(|n| luhn_valid(n))
        .expect("one of ten check digits is right")
}

fn luhn_valid(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let d2 = d * 2;
                if d2 > 9 { d2 - 9 } else { d2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(raw: &str) -> Result<AccountNumber, FieldError> {
        AccountNumber::parse(Kind::Card, raw)
    }

    #[test]
    fn cards_ignore_spaces_and_dashes_and_need_a_luhn_check_digit() {
        assert_eq!(card("4242 4242-4242 4242").unwrap().last4(), "4242");
        assert_eq!(
            card("4242424242424241").unwrap_err().message,
            "fails the Luhn check"
        );
        assert!(card("4000000000000002").is_ok());
    }

    #[test]
    fn a_completed_payload_passes_and_no_other_digit_does() {
        let n = with_check_digit("424242424242424");
        assert_eq!(n, "4242424242424242");
        assert!(card(&n).is_ok());
        for d in (0..10).filter(|&d| d != 2) {
            assert!(card(&format!("424242424242424{d}")).is_err());
        }
    }

    #[test]
    fn cards_have_12_to_19_digits() {
        assert!(card("42424242424").is_err());
        assert!(card("424242424243").is_err()); // 12 digits, Luhn fails
        assert!(card("424242424242").is_ok()); // 12 digits, Luhn passes
        assert!(card("000000000000").is_ok()); // 12 digits, Luhn sum 0
        assert!(card("00000000000000000000").is_err()); // 20 digits
    }

    #[test]
    fn numbers_reject_letters_and_punctuation() {
        assert!(card("4242x4242424242424").is_err());
        assert!(card("4242.4242.4242.4242").is_err());
        assert!(AccountNumber::parse(Kind::Bank, "").is_err());
    }

    #[test]
    fn bank_accounts_have_6_to_20_digits_without_luhn() {
        let bank = |raw: &str| AccountNumber::parse(Kind::Bank, raw);
        assert!(bank("12345").is_err());
        assert_eq!(bank("110-123-456789").unwrap().masked(), "******6789");
        assert!(bank(&"1".repeat(20)).is_ok());
        assert!(bank(&"1".repeat(21)).is_err());
        assert_eq!(bank("123456").unwrap().brand(), None);
    }

    #[test]
    fn brands_follow_the_leading_digits() {
        let brand = |raw: &str| card(raw).unwrap().brand().unwrap();
        assert_eq!(brand("4242424242424242"), Brand::Visa);
        assert_eq!(brand("5555555555554444"), Brand::Mastercard);
        assert_eq!(brand("2223003122003222"), Brand::Mastercard);
        assert_eq!(brand("378282246310005"), Brand::Amex);
        assert_eq!(brand("6011111111111117"), Brand::Discover);
        assert_eq!(brand("6011000990139424"), Brand::Discover);
        assert_eq!(brand("6445644564456445"), Brand::Discover);
        assert_eq!(brand("3566002020360505"), Brand::Jcb);
        assert_eq!(brand("3530111333300000"), Brand::Jcb);
        assert_eq!(brand("6200000000000005"), Brand::Unionpay);
        assert_eq!(brand("6205500000000000004"), Brand::Unionpay);
        assert_eq!(brand("36227206271667"), Brand::Diners);
        assert_eq!(brand("3056930009020004"), Brand::Diners);
        assert_eq!(brand("6011111111111117"), Brand::Discover);
    }

    #[test]
    fn brands_begin_and_end_where_their_ranges_do() {
        let brand = |payload: &str| card(&with_check_digit(payload)).unwrap().brand().unwrap();
        let cases = [
            ("601100000000000", Brand::Discover),
            ("601200000000000", Brand::Unknown),
            ("643000000000000", Brand::Unknown),
            ("644000000000000", Brand::Discover),
            ("649900000000000", Brand::Discover),
            ("659900000000000", Brand::Discover),
            ("352700000000000", Brand::Unknown),
            ("352800000000000", Brand::Jcb),
            ("358900000000000", Brand::Jcb),
            ("359000000000000", Brand::Unknown),
            ("620000000000000", Brand::Unionpay),
            ("810000000000000", Brand::Unionpay),
            ("300000000000000", Brand::Diners),
            ("305900000000000", Brand::Diners),
            ("306000000000000", Brand::Unknown),
            ("309500000000000", Brand::Diners),
            ("309600000000000", Brand::Unknown),
            ("360000000000000", Brand::Diners),
            ("380000000000000", Brand::Diners),
            ("399900000000000", Brand::Diners),
            ("222100000000000", Brand::Mastercard),
            ("272000000000000", Brand::Mastercard),
            ("272100000000000", Brand::Unknown),
            ("100000000000000", Brand::Unknown),
        ];
        for (payload, expected) in cases {
            assert_eq!(brand(payload), expected, "{payload}");
        }
    }

    #[test]
    fn debug_and_display_print_only_the_masked_form() {
        let n = card("4242 4242 4242 4242").unwrap();
        assert_eq!(n.to_string(), "**** **** **** 4242");
        let debug = format!("{n:?}");
        assert!(!debug.contains("4242424242424242"), "{debug}");
        assert!(debug.contains("**** **** **** 4242"));
    }
}
