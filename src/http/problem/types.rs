//! The problem types paytree answers with, and `GET /problems/{slug}`: each type's section
//! of `docs/api.md`, so that every `type` a client sees resolves to what it means.

use super::Problem;
use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The API's documentation, whose "Problem types" section has a `### <slug>` per type.
const API_DOC: &str = include_str!("../../../docs/api.md");

/// Every problem type paytree answers with; each has its section in `docs/api.md`.
pub const TYPES: &[&str] = &[
    "invalid-request",
    "validation-failed",
    "payment-declined",
    "payment-unavailable",
    "idempotency-in-flight",
    "idempotency-mismatch",
    "version-mismatch",
    "conflict",
    "order-already-shipped",
    "shipment-cancelled",
    "not-found",
    "unauthorized",
    "forbidden",
    "rate-limited",
    "own-key",
    "request-timeout",
    "method-not-allowed",
    "payload-too-large",
    "unsupported-media-type",
    "aggregate-busy",
    "aggregate-quarantined",
    "view-behind",
    "service-unavailable",
    "shutting-down",
    "not-ready",
    "no-webhook",
    "still-pending",
    "insufficient-storage",
    "backup-elsewhere",
    "internal",
];

/// The documentation of problem type `slug`: its section of `docs/api.md`, heading included.
fn type_doc(slug: &str) -> Option<&'static str> {
    if !TYPES.contains(&slug) {
        return None;
    }
    let section = &API_DOC[API_DOC.find("\n## Problem types\n")?..];
    let start = section.find(&format!("\n### {slug}\n"))? + 1;
    let rest = &section[start..];
    let end = rest[1..].find("\n#").map_or(rest.len(), |i| i + 2);
    Some(rest[..end].trim_end())
}

/// `GET /problems/{slug}`: what a problem type means, as plain text; 404 for no such type.
pub async fn problem_type(Path(slug): Path<String>) -> Response {
    match type_doc(&slug) {
        Some(doc) => {
            let content_type = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
            (content_type, format!("{doc}\n")).into_response()
        }
        None => Problem::not_found().into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_type_has_its_own_section_in_the_api_doc() {
        for slug in TYPES {
            let doc = type_doc(slug).unwrap_or_else(|| panic!("no section for {slug}"));
            assert!(doc.starts_with(&format!("### {slug}\n")), "{doc}");
            assert!(!doc[4..].contains("\n#"), "one section only: {doc}");
        }
        assert_eq!(type_doc("no-such-type"), None);
        assert_eq!(type_doc("../README"), None);
    }
}
