//! Message routes: the customer's inbox, and the admin's view of deliveries.

use super::AppState;
use super::access::Scope;
use super::dto::{AttemptView, ListMessagesQuery, MessageDetail, MessagePage, MessageView};
use super::extract::{Id, Params};
use super::problem::{Problem, ProblemBody};
use crate::actors::CommandError;
use crate::actors::notifier::RedeliverError;
use crate::auth::{AuditEntry, Caller, action};
use crate::domain::MessageId;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

/// A customer's messages, one per recorded event, by id.
#[utoipa::path(
    get, path = "/messages", tag = "messages",
    params(ListMessagesQuery),
    responses(
        (status = 200, body = MessagePage),
        (status = 400, description = "customerId missing or malformed, bad paging", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn list_messages(
    State(app): State<AppState>,
    caller: Caller,
    Params(q): Params<ListMessagesQuery>,
) -> Result<Json<MessagePage>, Problem> {
    let customer = caller.customer_for(q.customer_id.as_deref())?;
    let limit = super::limit(q.limit)?;
    let after = super::within_int64("after", q.after)?.unwrap_or(0);
    let page = app.actors.messages(customer, after, limit).await?;
    Ok(Json(MessagePage {
        items: page.items.iter().map(MessageView::from).collect(),
        next_after: page.next_after,
    }))
}

/// A message with every recorded delivery attempt (status code, duration, error).
#[utoipa::path(
    get, path = "/admin/messages/{id}", tag = "messages",
    params(("id" = u64, Path, minimum = 1)),
    responses(
        (status = 200, body = MessageDetail),
        (status = 404, description = "No such message", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn get_message(
    State(app): State<AppState>,
    Id(id): Id,
) -> Result<Json<MessageDetail>, Problem> {
    let (message, attempts) = app.actors.message(MessageId(id)).await?;
    Ok(Json(MessageDetail {
        message: MessageView::from(&message),
        delivery_attempts: attempts.iter().map(AttemptView::from).collect(),
    }))
}

/// Sends a delivered or failed message to the webhook again, with a new round of retries.
#[utoipa::path(
    post, path = "/admin/messages/{id}/redeliver", tag = "messages",
    params(("id" = u64, Path, minimum = 1)),
    responses(
        (status = 202, description = "Queued for the webhook", body = MessageView),
        (status = 404, description = "No such message", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "No webhook is configured, or the message is still being delivered", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "The notifier is restarting", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn redeliver_message(
    State(app): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<(StatusCode, Json<MessageView>), Problem> {
    let audit = AuditEntry::by(
        caller.key_id(),
        action::MESSAGE_REDELIVERED,
        &id.to_string(),
    );
    match app.actors.redeliver(MessageId(id), audit).await {
        Ok(message) => Ok((StatusCode::ACCEPTED, Json(MessageView::from(&message)))),
        Err(RedeliverError::NotFound) => Err(Problem::not_found()),
        Err(RedeliverError::NoWebhook) => Err(Problem::new(
            StatusCode::CONFLICT,
            "no-webhook",
            "No webhook",
            "No webhook is configured; the inbox already has every message.",
        )),
        Err(RedeliverError::StillPending) => Err(Problem::new(
            StatusCode::CONFLICT,
            "still-pending",
            "Still being delivered",
            "The message is still queued or between retries.",
        )),
        Err(RedeliverError::Unavailable) => Err(CommandError::Unavailable.into()),
    }
}
