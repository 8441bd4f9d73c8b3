//! Key management and the audit log (admin only, as the access table says).

use super::AppState;
use super::dto::{
    AuditPage, AuditQuery, AuditView, CreateKeyBody, KeyPage, KeyView, ListKeysQuery,
};
use super::extract::{JsonBody, Params};
use super::problem::{Problem, ProblemBody};
use crate::actors::CommandError;
use crate::auth::{Caller, KeyError, KeyId, NewKey, Role};
use crate::domain::{CustomerId, FieldError, Timestamp};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Make a key. The answer is the only place its plaintext ever appears.
#[utoipa::path(
    post, path = "/admin/keys", tag = "keys",
    request_body = CreateKeyBody,
    responses(
        (status = 201, description = "Made; `key` is shown this once", body = KeyView,
            headers(("Location" = String, description = "/admin/keys/{id}"))),
        (status = 400, description = "Malformed JSON, wrong types, unknown fields", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "No valid key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Unknown role, customerId missing for a customer key or given for another role, name too long, expiresAt not a future RFC 3339 time", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "The store could not record it; no key was made", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn create_key(
    State(app): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateKeyBody>,
) -> Result<Response, Problem> {
    let new = parse_new_key(body)?;
    let (key, record) = app.keys.create(&caller, new).await.map_err(problem)?;
    let mut view = KeyView::from(&record);
    view.key = Some(key.expose().to_owned());
    let location = [(header::LOCATION, format!("/admin/keys/{}", record.id))];
    Ok((StatusCode::CREATED, location, Json(view)).into_response())
}

/// Validates every field and reports all failures at once.
fn parse_new_key(body: CreateKeyBody) -> Result<NewKey, Problem> {
    let mut errors = Vec::new();
    let role = Role::parse(&body.role);
    if role.is_none() {
        errors.push(FieldError::new(
            "role",
            "must be admin, service, seller, customer or metrics",
        ));
    }
    let customer_id = match (role, body.customer_id.as_deref()) {
        (Some(Role::Customer), None) => {
            errors.push(FieldError::new(
                "customerId",
                "is required for a customer key",
            ));
            None
        }
        (Some(Role::Customer), Some(raw)) => {
            CustomerId::parse(raw).map_err(|e| errors.push(e)).ok()
        }
        (_, Some(_)) => {
            errors.push(FieldError::new(
                "customerId",
                "is given only for a customer key",
            ));
            None
        }
        (_, None) => None,
    };
    let name = body.name.unwrap_or_default();
    if name.chars().count() > 100 || name.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "name",
            "must be at most 100 characters, none of them control characters",
        ));
    }
    let expires_at = match body.expires_at.as_deref() {
        None => None,
        Some(raw) => match Timestamp::parse_rfc3339(raw) {
            Some(at) if at > Timestamp::now() => Some(at),
            Some(_) => {
                errors.push(FieldError::new("expiresAt", "must be in the future"));
                None
            }
            None => {
                errors.push(FieldError::new(
                    "expiresAt",
                    "must be an RFC 3339 time, e.g. 2027-01-01T00:00:00Z",
                ));
                None
            }
        },
    };
    match role {
        Some(role) if errors.is_empty() => Ok(NewKey {
            role,
            customer_id,
            name,
            expires_at,
        }),
        _ => Err(Problem::validation(errors)),
    }
}

/// Every key, without the keys themselves, by id.
#[utoipa::path(
    get, path = "/admin/keys", tag = "keys",
    params(ListKeysQuery),
    responses(
        (status = 200, body = KeyPage),
        (status = 400, description = "Bad paging", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "No valid key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin key", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn list_keys(
    State(app): State<AppState>,
    Params(q): Params<ListKeysQuery>,
) -> Result<Json<KeyPage>, Problem> {
    let limit = super::limit(q.limit)?;
    let after = match q.after.as_deref() {
        None => None,
        Some(raw) => Some(KeyId::parse(raw).ok_or_else(|| {
            Problem::invalid_request("after must be a key id (key_ and 24 hex digits).")
        })?),
    };
    let (records, more) = app
        .keys
        .list(after.as_ref(), limit)
        .await
        .map_err(problem)?;
    let next_after = more
        .then(|| records.last().map(|r| r.id.to_string()))
        .flatten();
    Ok(Json(KeyPage {
        items: records.iter().map(KeyView::from).collect(),
        next_after,
    }))
}

/// Revoke a key: it is refused from this answer on. Revoking it again changes nothing; a key
/// cannot revoke itself.
#[utoipa::path(
    delete, path = "/admin/keys/{id}", tag = "keys",
    params(("id" = String, Path, pattern = "^key_[0-9a-f]{24}$")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No valid key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The key named is the one making the request", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "The store could not record it; the key still works", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn revoke_key(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let id = KeyId::parse(&id).ok_or_else(Problem::not_found)?;
    app.keys.revoke(&caller, &id).await.map_err(problem)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Admin actions, oldest first, each with the key that acted.
#[utoipa::path(
    get, path = "/admin/audit", tag = "keys",
    params(AuditQuery),
    responses(
        (status = 200, body = AuditPage),
        (status = 400, description = "Bad paging", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "No valid key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin key", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn list_audit(
    State(app): State<AppState>,
    Params(q): Params<AuditQuery>,
) -> Result<Json<AuditPage>, Problem> {
    let limit = super::limit(q.limit)?;
    let after = super::within_int64("after", q.after)?.unwrap_or(0);
    let page = app.actors.audit(after, limit).await?;
    Ok(Json(AuditPage {
        items: page.items.iter().map(AuditView::from).collect(),
        next_after: page.next_after,
    }))
}

/// Records an admin action that the store did not record with the action itself. The
/// action has happened: a failure to record it is logged, not answered as the action's.
pub async fn audit(app: &AppState, caller: &Caller, action: &str, target: &str) {
    if let Err(e) = app.keys.record(caller, action, target).await {
        tracing::error!(error = %e, action, target, "an admin action was not recorded in the audit log");
    }
}

fn problem(e: KeyError) -> Problem {
    match e {
        KeyError::NotFound => Problem::not_found(),
        KeyError::OwnKey => Problem::new(
            StatusCode::CONFLICT,
            "own-key",
            "A key cannot revoke itself",
            "Revoke this key with another admin key: revoking the last one would lock every admin out.",
        ),
        KeyError::Unavailable => CommandError::Unavailable.into(),
    }
}
