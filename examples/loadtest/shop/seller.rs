//! A shop seller: ships what is pending.

use super::{PENDING_PAGE, problem_type, till};
use crate::users::use_key_as;
use goose::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Where this seller's last round found the newest pending shipments (a listing cursor).
#[derive(Clone, Default)]
struct Tail(u64);

/// Takes the user's `seller` key.
pub async fn start(user: &mut GooseUser) -> TransactionResult {
    user.set_session_data(Tail::default());
    use_key_as(user, "seller").await
}

/// Ships the newest pending shipments that no other seller has taken: pages through the
/// pending ones from where the last round's newest began to the last page, and ships the
/// newest [`PENDING_PAGE`] of them. Sellers thus stay near the newest orders, racing their cancellations, even when the
/// customers place orders faster than they ship; what they leave behind stays pending.
pub async fn ship_pending(user: &mut GooseUser) -> TransactionResult {
    let mut after = user.get_session_data_unchecked::<Tail>().0;
    // The last two pages (the last alone may hold only a few), and where the first began.
    let (mut previous, mut previous_after) = (Vec::new(), after);
    let last = loop {
        let Some((ids, next)) = list_pending(user, after).await? else {
            return Ok(());
        };
        match next {
            Some(next) if ids.len() == PENDING_PAGE => {
                (previous, previous_after) = (ids, after);
                after = next;
            }
            _ => break ids,
        }
    };
    user.get_session_data_unchecked_mut::<Tail>().0 = previous_after;
    let mut newest = previous;
    newest.extend(last);
    let skip = newest.len().saturating_sub(PENDING_PAGE);
    for id in newest.into_iter().skip(skip) {
        if till().take(id) {
            ship(user, id).await?;
        }
    }
    Ok(())
}

/// One page of pending shipments after `after`: their ids and the next page's cursor;
/// `None` when it could not be read.
async fn list_pending(
    user: &mut GooseUser,
    after: u64,
) -> Result<Option<(Vec<u64>, Option<u64>)>, Box<TransactionError>> {
    let path = format!("/shipments?status=pending&limit={PENDING_PAGE}&after={after}");
    let request = GooseRequest::builder()
        .path(path.as_str())
        .name("shipments-pending")
        .build();
    let goose = user.request(request).await?;
    let Ok(response) = goose.response else {
        return Ok(None);
    };
    if response.status() != StatusCode::OK {
        return Ok(None);
    }
    let page: Value = response.json().await.unwrap_or(Value::Null);
    let ids = page["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|s| s["id"].as_u64()).collect())
        .unwrap_or_default();
    Ok(Some((ids, page["nextAfter"].as_u64())))
}

/// `POST /shipments/{id}/ship`: 200 expected; 409 `shipment-cancelled` is an answer of the
/// contract (the customer cancelled first), not a failure. A shipment whose ship got neither
/// is given back for another round.
async fn ship(user: &mut GooseUser, id: u64) -> TransactionResult {
    let path = format!("/shipments/{id}/ship");
    let body = json!({"carrier": "CJ", "trackingNumber": format!("LT{id:09}")});
    let builder = user
        .get_request_builder(&GooseMethod::Post, &path)?
        .json(&body);
    let request = GooseRequest::builder()
        .method(GooseMethod::Post)
        .path(path.as_str())
        .name("shipment-ship")
        .set_request_builder(builder)
        .build();
    let mut goose = user.request(request).await?;
    let Ok(response) = goose.response else {
        till().release(id);
        return Ok(());
    };
    match response.status() {
        StatusCode::OK => {
            till().ships.insert(id, 200);
        }
        StatusCode::CONFLICT => {
            let answer: Value = response.json().await.unwrap_or(Value::Null);
            if problem_type(&answer) == "shipment-cancelled" {
                till().ships.insert(id, 409);
                return user.set_success(&mut goose.request);
            }
            till().release(id);
        }
        _ => till().release(id),
    }
    Ok(())
}
