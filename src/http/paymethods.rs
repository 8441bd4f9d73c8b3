//! Payment-method routes: parse into domain types, make one call to the tree, map the reply.

use super::access::Scope;
use super::dto::{
    ChangeBody, ListMethodsQuery, PaymentMethodPage, PaymentMethodView, RegisterBody,
};
use super::extract::{Id, JsonBody, Params, idempotency_key, if_match, replayed};
use super::problem::{Problem, ProblemBody};
use super::{AppState, POSITION, done_headers};
use crate::actors::{ChangeRequest, RawNumber, Registration, RemoveRequest};
use crate::auth::Caller;
use crate::domain::number::digits_of;
use crate::domain::{AccountNumber, CustomerId, FieldError, Kind, PaymethodId};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Register a payment method: valid only once the payment system approves a verification.
#[utoipa::path(
    post, path = "/paymethods", tag = "paymethods",
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, description = "1–255 visible ASCII characters, scoped per customer", pattern = "^[!-~]{1,255}$")),
    request_body = RegisterBody,
    responses(
        (status = 201, description = "Verified and registered", body = PaymentMethodView,
            headers(("Location" = String, description = "/paymethods/{id}"), ("Paytree-Position" = u64), ("ETag" = String), ("Idempotent-Replayed" = String, description = "`true` when this repeats the first response for the key"))),
        (status = 400, description = "Malformed JSON, wrong types, unknown or missing fields, bad Idempotency-Key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 402, description = "The payment system declined the verification; nothing registered", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "A request with the same Idempotency-Key is in flight", body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Validation failed (Luhn, length, customerId, kind, requestId)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "Payment system unavailable or circuit open; nothing stored", body = ProblemBody, content_type = "application/problem+json",
            headers(("Retry-After" = u64))),
    )
)]
pub async fn register_paymethod(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(mut body): JsonBody<RegisterBody>,
) -> Result<Response, Problem> {
    let customer = caller.body_customer(body.customer_id.take())?;
    let key = idempotency_key(&headers)?;
    let registration = parse_registration(&customer, body)?;
    let answer = app.actors.register(registration, key).await;
    let done = match answer.result {
        Ok(done) => done,
        Err(e) => return Ok(replayed(Problem::from(e).into_response(), answer.replayed)),
    };
    let location = format!("/paymethods/{}", done.method.id);
    let mut response = (
        StatusCode::CREATED,
        done_headers(&done),
        Json(PaymentMethodView::from(&done.method)),
    )
        .into_response();
    response.headers_mut().insert(
        header::LOCATION,
        location.parse().map_err(|_| Problem::internal())?,
    );
    Ok(replayed(response, answer.replayed))
}

/// Validates every field and reports all failures at once; the number is checked only once
/// its kind is known.
fn parse_registration(customer: &str, body: RegisterBody) -> Result<Registration, Problem> {
    let mut errors = Vec::new();
    let customer = CustomerId::parse(customer).map_err(|e| errors.push(e)).ok();
    let kind = Kind::parse(&body.kind).map_err(|e| errors.push(e)).ok();
    let number = kind.and_then(|k| {
        AccountNumber::parse(k, &body.number)
            .map_err(|e| errors.push(e))
            .ok()
    });
    let request_id = match body.request_id {
        Some(id @ 1..) => Some(id as u64),
        Some(_) => {
            errors.push(FieldError::new("requestId", "must be a positive integer"));
            None
        }
        None => None,
    };
    match (customer, number) {
        (Some(customer_id), Some(number)) if errors.is_empty() => Ok(Registration {
            customer_id,
            number,
            request_id,
            idempotency: None,
        }),
        _ => Err(Problem::validation(errors)),
    }
}

/// One payment method.
#[utoipa::path(
    get, path = "/paymethods/{id}", tag = "paymethods",
    params(("id" = u64, Path, minimum = 1)),
    responses(
        (status = 200, body = PaymentMethodView, headers(("ETag" = String, description = "\"<version>\""))),
        (status = 404, description = "Unknown or removed", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn get_paymethod(
    State(app): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<Response, Problem> {
    let method = app.actors.paymethod(PaymethodId(id)).await?;
    if !caller.may_see(&method.customer_id) {
        return Err(Problem::not_found());
    }
    let etag = [(header::ETAG, format!("\"{}\"", method.version))];
    Ok((etag, Json(PaymentMethodView::from(&method))).into_response())
}

/// A customer's payment methods, by id.
#[utoipa::path(
    get, path = "/paymethods", tag = "paymethods",
    params(ListMethodsQuery),
    responses(
        (status = 200, body = PaymentMethodPage),
        (status = 400, description = "customerId missing or malformed, limit outside 1–200", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn list_paymethods(
    State(app): State<AppState>,
    caller: Caller,
    Params(q): Params<ListMethodsQuery>,
) -> Result<Json<PaymentMethodPage>, Problem> {
    let customer = caller.customer_for(q.customer_id.as_deref())?;
    let limit = super::limit(q.limit)?;
    let page = app
        .actors
        .paymethods_of(
            customer,
            super::within_int64("after", q.after)?.unwrap_or(0),
            limit,
        )
        .await?;
    Ok(Json(PaymentMethodPage {
        items: page.items.iter().map(PaymentMethodView::from).collect(),
        next_after: page.next_after,
    }))
}

/// Change a payment method; a new number is verified first, as in registration.
#[utoipa::path(
    patch, path = "/paymethods/{id}", tag = "paymethods",
    params(("id" = u64, Path, minimum = 1), ("If-Match" = Option<String>, Header, nullable = false, description = "\"<version>\"", pattern = "^(\\*|(W/)?\"[0-9]{1,19}\"|[0-9]{1,19})$")),
    request_body = ChangeBody,
    responses(
        (status = 200, description = "Changed (version + 1), or unchanged when nothing differs", body = PaymentMethodView,
            headers(("Paytree-Position" = u64), ("ETag" = String))),
        (status = 400, description = "Malformed JSON, wrong types, unknown fields, malformed If-Match", body = ProblemBody, content_type = "application/problem+json"),
        (status = 402, description = "The new number's verification was declined; unchanged", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "Unknown or removed", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Changed concurrently; retry", body = ProblemBody, content_type = "application/problem+json"),
        (status = 412, description = "If-Match names another version", body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "No field given, or validation failed", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "Payment system unavailable; unchanged", body = ProblemBody, content_type = "application/problem+json",
            headers(("Retry-After" = u64))),
    )
)]
pub async fn change_paymethod(
    State(app): State<AppState>,
    caller: Caller,
    Id(id): Id,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ChangeBody>,
) -> Result<Response, Problem> {
    if body.kind.is_none() && body.number.is_none() {
        let field = FieldError::new("body", "give at least one of \"kind\" and \"number\"");
        return Err(Problem::validation(vec![field]));
    }
    // What can be checked without the stored state is checked before If-Match: a
    // malformed body is a 422 whatever the version.
    if let Some(raw) = &body.number {
        digits_of(raw).map_err(|e| Problem::validation(vec![e]))?;
    }
    let kind = body
        .kind
        .as_deref()
        .map(Kind::parse)
        .transpose()
        .map_err(|e| Problem::validation(vec![e]))?;
    let change = ChangeRequest {
        kind,
        number: body.number.map(RawNumber),
        if_match: if_match(&headers)?,
        owner: caller.confined_to().cloned(),
    };
    let done = app.actors.change(PaymethodId(id), change).await?;
    Ok((
        done_headers(&done),
        Json(PaymentMethodView::from(&done.method)),
    )
        .into_response())
}

/// Remove a payment method; afterwards its id answers 404.
#[utoipa::path(
    delete, path = "/paymethods/{id}", tag = "paymethods",
    params(("id" = u64, Path, minimum = 1), ("If-Match" = Option<String>, Header, nullable = false, description = "\"<version>\"", pattern = "^(\\*|(W/)?\"[0-9]{1,19}\"|[0-9]{1,19})$")),
    responses(
        (status = 204, description = "Removed", headers(("Paytree-Position" = u64))),
        (status = 400, description = "Malformed If-Match", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "Unknown or already removed", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Changed concurrently; retry", body = ProblemBody, content_type = "application/problem+json"),
        (status = 412, description = "If-Match names another version", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn remove_paymethod(
    State(app): State<AppState>,
    caller: Caller,
    Id(id): Id,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let remove = RemoveRequest {
        if_match: if_match(&headers)?,
        owner: caller.confined_to().cloned(),
    };
    let position = app.actors.remove(PaymethodId(id), remove).await?;
    Ok((StatusCode::NO_CONTENT, [(POSITION, position.to_string())]).into_response())
}
