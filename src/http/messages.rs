//! Message routes: the customer's inbox.

use super::AppState;
use super::dto::{ListMethodsQuery, MessagePage, MessageView};
use super::extract::Params;
use super::problem::{Problem, ProblemBody};
use crate::domain::CustomerId;
use axum::Json;
use axum::extract::State;

/// A customer's messages, one per recorded event, by id.
#[utoipa::path(
    get, path = "/messages", tag = "messages",
    params(ListMethodsQuery),
    responses(
        (status = 200, body = MessagePage),
        (status = 400, description = "customerId missing or malformed, bad paging", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn list_messages(
    State(app): State<AppState>,
    Params(q): Params<ListMethodsQuery>,
) -> Result<Json<MessagePage>, Problem> {
    let customer = CustomerId::parse(&q.customer_id)
        .map_err(|e| Problem::invalid_request(format!("customerId {}.", e.message)))?;
    let limit = super::limit(q.limit)?;
    let after = super::within_int64("after", q.after)?.unwrap_or(0);
    let page = app.actors.messages(customer, after, limit).await?;
    Ok(Json(MessagePage {
        items: page.items.iter().map(MessageView::from).collect(),
        next_after: page.next_after,
    }))
}
