//! The mypage route: a customer's read view, from the projection (CQRS).

use super::AppState;
use super::access::Scope;
use super::dto::{MypageQuery, MypageView};
use super::extract::Params;
use super::problem::{Problem, ProblemBody};
use crate::auth::Caller;
use crate::domain::Position;
use axum::Json;
use axum::extract::{Path, State};

/// A customer's payment methods and newest messages, as the projection of recorded events
/// has them. An unknown customer gets empty lists. With `minPosition`, it answers once the
/// view has applied that position (at most 2 s), so a client reads its own writes.
#[utoipa::path(
    get, path = "/mypages/{customerId}", tag = "mypage",
    params(
        ("customerId" = String, Path, pattern = "^(?:[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}|\\.[A-Za-z0-9_-][A-Za-z0-9_.-]{0,62}|\\.\\.[A-Za-z0-9_.-]{1,62})$"),
        MypageQuery,
    ),
    responses(
        (status = 200, body = MypageView),
        (status = 400, description = "customerId malformed, or minPosition beyond the last recorded event", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "The view did not reach minPosition within 2 s", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn get_mypage(
    State(app): State<AppState>,
    caller: Caller,
    Path(customer): Path<String>,
    Params(q): Params<MypageQuery>,
) -> Result<Json<MypageView>, Problem> {
    let customer = caller.customer_for(Some(&customer))?;
    let min = super::within_int64("minPosition", q.min_position)?.map(Position);
    let read = app.actors.mypage(customer, min).await?;
    Ok(Json(MypageView::from(&read)))
}
