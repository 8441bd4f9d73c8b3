//! Payment-record routes (read-only).

use super::AppState;
use super::access::Scope;
use super::dto::{ListPaymentsQuery, PaymentPage, PaymentView};
use super::extract::{Id, Params};
use super::problem::{Problem, ProblemBody};
use crate::actors::PaymentFilter;
use crate::auth::Caller;
use crate::domain::{PaymentId, PaymethodId};
use axum::Json;
use axum::extract::State;

/// One payment record.
#[utoipa::path(
    get, path = "/payments/{id}", tag = "payments",
    params(("id" = u64, Path, minimum = 1)),
    responses(
        (status = 200, body = PaymentView),
        (status = 404, body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn get_payment(
    State(app): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<Json<PaymentView>, Problem> {
    let payment = app.actors.payment(PaymentId(id)).await?;
    if !caller.may_see(&payment.customer_id) {
        return Err(Problem::not_found());
    }
    Ok(Json(PaymentView::from(&payment)))
}

/// A customer's or a payment method's payment records (both: the method's, if it is the customer's), by id.
#[utoipa::path(
    get, path = "/payments", tag = "payments",
    params(ListPaymentsQuery),
    responses(
        (status = 200, body = PaymentPage),
        (status = 400, description = "Neither customerId nor paymethodId, or bad paging", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn list_payments(
    State(app): State<AppState>,
    caller: Caller,
    Params(q): Params<ListPaymentsQuery>,
) -> Result<Json<PaymentPage>, Problem> {
    // A customer key always narrows to its own customer; others give one, or a method.
    let customer = match (caller.confined_to(), q.customer_id.as_deref()) {
        (None, None) => None,
        (_, asked) => Some(caller.customer_for(asked)?),
    };
    let after = super::within_int64("after", q.after)?.unwrap_or(0);
    let filter = match (
        customer,
        super::within_int64("paymethodId", q.paymethod_id)?,
    ) {
        (customer, Some(id)) if id > 0 => PaymentFilter::Paymethod(PaymethodId(id), customer),
        (Some(customer), None) => PaymentFilter::Customer(customer),
        _ => {
            return Err(Problem::invalid_request(
                "Give customerId or paymethodId (a positive integer), or both.",
            ));
        }
    };
    let limit = super::limit(q.limit)?;
    let page = app.actors.payments(filter, after, limit).await?;
    Ok(Json(PaymentPage {
        items: page.items.iter().map(PaymentView::from).collect(),
        next_after: page.next_after,
    }))
}
