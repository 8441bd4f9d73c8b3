//! Where an order goes: a postal address, checked field by field.

use crate::domain::FieldError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: String,
}

/// The officially assigned ISO 3166-1 alpha-2 codes.
const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI \
BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ \
DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ \
GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN \
KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS \
MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT \
PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF \
TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

impl Address {
    /// Checks every field (the field names are the request's, under `shippingAddress.`);
    /// all failures at once.
    pub fn check(self) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut text = |field: &'static str, value: &str| {
            let n = value.chars().count();
            if n == 0 || n > 100 || value.chars().any(char::is_control) || value.trim().is_empty() {
                errors.push(FieldError::new(
                    field,
                    "must be 1 to 100 printable characters, not only spaces",
                ));
            }
        };
        text("shippingAddress.name", &self.name);
        text("shippingAddress.line1", &self.line1);
        if let Some(line2) = &self.line2 {
            text("shippingAddress.line2", line2);
        }
        text("shippingAddress.city", &self.city);
        text("shippingAddress.postalCode", &self.postal_code);
        let known = self.country.len() == 2
            && self.country.bytes().all(|b| b.is_ascii_uppercase())
            && COUNTRIES.split(' ').any(|c| c == self.country);
        if !known {
            errors.push(FieldError::new(
                "shippingAddress.country",
                "must be an ISO 3166-1 alpha-2 country code in capitals, e.g. KR",
            ));
        }
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
impl Address {
    /// A valid address in Seoul, for tests.
    pub fn seoul() -> Self {
        Self {
            name: "Alice Kim".into(),
            line1: "1 Jongno".into(),
            line2: None,
            city: "Seoul".into(),
            postal_code: "03154".into(),
            country: "KR".into(),
        }
    }
}
