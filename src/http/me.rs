//! `GET /me`: the key a request is made with, as the key listing shows it, so that a client
//! (the web pages) can tell whose key it holds and what it may do.

use super::dto::KeyView;
use crate::auth::Caller;
use axum::Json;

/// The calling key: its id, role, customer (for a `customer` key), name and dates.
#[utoipa::path(
    get, path = "/me", tag = "keys",
    responses((status = 200, description = "The calling key, without the key itself", body = KeyView))
)]
pub async fn me(caller: Caller) -> Json<KeyView> {
    Json(KeyView::from(caller.record()))
}
