//! Extractors whose rejections are problems: JSON bodies (415, 400, 413), path ids (404 for
//! anything that cannot be an id), query strings (400) and the conditional headers.

use super::problem::Problem;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

/// A JSON body. Unknown fields, wrong types and missing fields are 400; the detail names the
/// problem without repeating what the client sent.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        // The contract takes `application/json` only; axum's `Json` would also take any
        // `application/*+json` type.
        if !is_application_json(req.headers()) {
            return Err(Problem::for_status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        }
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => {
                Err(Problem::for_status(StatusCode::UNSUPPORTED_MEDIA_TYPE))
            }
            Err(JsonRejection::BytesRejection(r))
                if r.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(Problem::for_status(StatusCode::PAYLOAD_TOO_LARGE))
            }
            Err(JsonRejection::JsonSyntaxError(_)) => {
                Err(Problem::invalid_request("The body is not valid JSON."))
            }
            Err(e) => Err(Problem::invalid_request(sanitize(&e.body_text()))),
        }
    }
}

/// Whether the body is declared `application/json` (parameters such as a charset allowed).
fn is_application_json(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// A query string. Malformed or missing parameters are 400.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Self(v))
            .map_err(|e: QueryRejection| Problem::invalid_request(sanitize(&e.body_text())))
    }
}

/// A positive integer id in the path, in its one canonical form (decimal digits, no sign,
/// no leading zero); anything else names nothing, so it is 404, as an unknown id is.
pub struct Id(pub u64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| Problem::not_found())?;
        canonical_id(&raw).map(Self).ok_or_else(Problem::not_found)
    }
}

/// The id `raw` spells, if it is the canonical spelling of a positive id. `u64::from_str`
/// alone would also take `+3` and `03`, so that one object had many addresses.
fn canonical_id(raw: &str) -> Option<u64> {
    let canonical = raw.bytes().all(|b| b.is_ascii_digit()) && !raw.starts_with('0');
    raw.parse().ok().filter(|&id| canonical && id > 0)
}

/// The version named by `If-Match` (`"3"`, `W/"3"` or `3`); `*` or no header means any.
/// A value that is not a version is a malformed request: 400.
pub fn if_match(headers: &HeaderMap) -> Result<Option<u64>, Problem> {
    let Some(value) = headers.get(axum::http::header::IF_MATCH) else {
        return Ok(None);
    };
    let raw = value.to_str().unwrap_or("").trim();
    if raw == "*" {
        return Ok(None);
    }
    let tag = raw.trim_start_matches("W/").trim_matches('"');
    tag.parse::<u64>()
        .map(Some)
        .map_err(|_| Problem::invalid_request("If-Match must name a version, like \"3\"."))
}

/// Keeps a deserializer's message useful without repeating client input: quoted or
/// back-quoted text survives only if it looks like a field name; long digit runs are masked.
pub fn sanitize(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find(['`', '"']) {
        let quote = rest.as_bytes()[start] as char;
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find(quote) {
            Some(end) => {
                let inner = &after[..end];
                let is_name = !inner.is_empty()
                    && inner.len() <= 40
                    && inner.chars().all(|c| c.is_ascii_alphabetic() || c == '_');
                out.push(quote);
                out.push_str(if is_name { inner } else { "…" });
                out.push(quote);
                rest = &after[end + 1..];
            }
            None => {
                rest = after;
            }
        }
    }
    out.push_str(rest);
    mask_digit_runs(&out)
}

fn mask_digit_runs(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut run = String::new();
    for c in s.chars().chain(std::iter::once('\0')) {
        if c.is_ascii_digit() {
            run.push(c);
            continue;
        }
        if run.len() >= 6 {
            out.push('…');
        } else {
            out.push_str(&run);
        }
        run.clear();
        if c != '\0' {
            out.push(c);
        }
    }
    out
}

/// Marks a response that repeats the stored outcome of an earlier request.
pub fn replayed(
    mut response: axum::response::Response,
    replayed: bool,
) -> axum::response::Response {
    if replayed {
        let value = axum::http::HeaderValue::from_static("true");
        response.headers_mut().insert("idempotent-replayed", value);
    }
    response
}

pub fn idempotency_key(
    headers: &HeaderMap,
) -> Result<Option<crate::domain::IdempotencyKey>, Problem> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(crate::domain::IdempotencyKey::parse)
            .map(Some)
            .ok_or_else(|| {
                Problem::invalid_request(
                    "Idempotency-Key must be 1 to 255 visible ASCII characters.",
                )
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_keeps_field_names_and_drops_client_values() {
        assert_eq!(
            sanitize(
                "number: invalid type: integer `4242424242424242`, expected a string at line 1 column 20"
            ),
            "number: invalid type: integer `…`, expected a string at line 1 column 20"
        );
        assert_eq!(
            sanitize("missing field `customerId`"),
            "missing field `customerId`"
        );
        assert_eq!(
            sanitize("unknown field `4242 4242 4242 4242`, expected one of `kind`"),
            "unknown field `…`, expected one of `kind`"
        );
        assert_eq!(sanitize("value 110123456789 here"), "value … here");
        assert_eq!(
            sanitize("invalid type: string \"4242-4242\""),
            "invalid type: string \"…\""
        );
    }

    #[test]
    fn only_the_canonical_decimal_form_of_a_positive_id_is_an_id() {
        assert_eq!(canonical_id("3"), Some(3));
        assert_eq!(canonical_id("10"), Some(10));
        assert_eq!(canonical_id("18446744073709551615"), Some(u64::MAX));
        for raw in [
            "",
            "0",
            "00",
            "03",
            "+3",
            "-3",
            " 3",
            "3 ",
            "3.0",
            "0x3",
            "18446744073709551616",
        ] {
            assert_eq!(canonical_id(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn if_match_accepts_strong_weak_and_bare_versions() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(axum::http::header::IF_MATCH, v.parse().unwrap());
            if_match(&m).map_err(|p| p.status())
        };
        assert_eq!(h("\"3\""), Ok(Some(3)));
        assert_eq!(h("W/\"4\""), Ok(Some(4)));
        assert_eq!(h("5"), Ok(Some(5)));
        assert_eq!(h("*"), Ok(None));
        assert_eq!(h("\"abc\""), Err(400));
        assert_eq!(if_match(&HeaderMap::new()).unwrap(), None);
    }
}
