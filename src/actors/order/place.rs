//! Placing an order: pricing, the payment method's check, the charge under a durable intent,
//! and the one commit that stores the order with its charge.

use super::{
    OrderAggregate, OrderDone, OrderError, OrderResult, OrderServices, Placement, count_order,
};
use crate::actors::kernel::Refusal;
use crate::actors::payment::call::{
    CallFailed, IntentCall, PaidWriteError, keyed_base, paid_write, random_base,
};
use crate::domain::intent::RefundOwed;
use crate::domain::order::{self, OrderStatus, StoredOrder};
use crate::domain::{FieldError, Order, Payment, PaymentId, PaymentStatus, Position, Timestamp};
use crate::provider::Source;
use crate::store;
use std::time::Duration;

impl OrderAggregate {
    pub(super) async fn place(
        &mut self,
        p: Placement,
        svc: &OrderServices,
    ) -> OrderResult<OrderDone> {
        if self.current.is_some() {
            tracing::error!(id = %self.id, "an order placed on an existing aggregate");
            return Err(Refusal::Internal.into());
        }
        let (claim, held) = p
            .idempotency
            .map(|(c, h)| (Some(c), Some(h)))
            .unwrap_or_default();
        // Priced from the catalogue as it is now; the method must be the customer's.
        let store = &svc.store;
        let failed = |e: crate::store::StoreError| {
            tracing::error!(error = %e, "reading the catalogue or a payment method failed");
            Refusal::Internal
        };
        let mut products = Vec::with_capacity(p.lines.len());
        for line in &p.lines {
            if !products.iter().any(|(sku, _)| sku == &line.sku) {
                products.push((
                    line.sku.clone(),
                    store.product(&line.sku).await.map_err(failed)?,
                ));
            }
        }
        let mut errors = Vec::new();
        let priced = order::price(&p.lines, |sku| {
            products
                .iter()
                .find(|(s, _)| s == sku)
                .and_then(|(_, p)| p.clone())
        });
        let method = store.paymethod(p.paymethod_id).await.map_err(failed)?;
        let method = match method {
            Some(m) if m.method.customer_id == p.customer_id => Some(m),
            _ => {
                errors.push(FieldError::new(
                    "paymethodId",
                    "is not an active payment method of this customer",
                ));
                None
            }
        };
        let (items, total) = match priced {
            Ok(priced) => priced,
            Err(mut more) => {
                errors.append(&mut more);
                (Vec::new(), 0)
            }
        };
        let Some(method) = method.filter(|_| errors.is_empty()) else {
            count_order("invalid");
            return Err(OrderError::Invalid(errors).into());
        };

        let intent_base = match &claim {
            Some(c) => keyed_base("ord", &p.customer_id, c.key.as_str(), &c.fingerprint),
            None => random_base("ord"),
        };
        let call = IntentCall {
            customer: p.customer_id.clone(),
            paymethod: Some(p.paymethod_id),
            order: Some(self.id),
            intent_base,
            source: Source::Token {
                kind: method.method.kind,
                token: method.token.clone(),
            },
            amount: total,
        };
        let (auth, intent) = match svc.payment.authorize(&svc.writer, call).await {
            Ok(answered) => answered,
            Err(CallFailed::Unavailable(retry_after)) => {
                count_order("payment_unavailable");
                return Err(OrderError::PaymentUnavailable { retry_after }.into());
            }
            Err(CallFailed::Write(e)) => return Err(self.unwritten(e)),
        };
        let mut charge = Payment::charge(
            p.customer_id.clone(),
            p.paymethod_id,
            total,
            auth.id.clone(),
        );
        if !auth.approved {
            count_order("declined");
            charge.status = PaymentStatus::Declined;
            charge.decline_code = auth.decline_code.clone();
            let declined = store::RecordDeclined {
                payment: charge,
                intent,
                idempotency: claim,
            };
            let payment_id = self.paid_write(declined, held, None, svc).await?;
            return Err(OrderError::Declined {
                payment_id,
                code: auth.decline_code,
            }
            .into());
        }
        let now = Timestamp::now();
        let order = Order {
            id: self.id,
            customer_id: p.customer_id.clone(),
            paymethod_id: p.paymethod_id,
            status: OrderStatus::Placed,
            items,
            total,
            shipping_address: p.address,
            payment_id: PaymentId(0),
            refund_payment_id: None,
            cancellation: None,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let owed = RefundOwed {
            authorization: auth.id.clone(),
            reference: intent.reference(),
            customer_id: p.customer_id,
            paymethod_id: Some(p.paymethod_id),
            amount: total,
        };
        let mut stored = StoredOrder {
            order,
            authorization: auth.id,
            last_position: Position(0),
        };
        let place = store::PlaceOrder {
            order: stored.clone(),
            payment: charge,
            intent,
            idempotency: claim,
        };
        let ids = self.paid_write(place, held, Some(owed), svc).await?;
        stored.order.payment_id = ids.payment_id;
        stored.last_position = ids.position;
        let done = OrderDone {
            order: stored.order.clone(),
            position: ids.position,
        };
        self.current = Some(stored);
        count_order("placed");
        Ok(done)
    }

    async fn paid_write<C: store::Write>(
        &mut self,
        command: C,
        held: Option<crate::actors::idempotency::Claim>,
        owed: Option<RefundOwed>,
        svc: &OrderServices,
    ) -> OrderResult<C::Output> {
        match paid_write(&svc.writer, command, held, owed).await {
            Ok(output) => Ok(output),
            Err(PaidWriteError::Unwritten(e)) => Err(self.unwritten(e)),
            Err(PaidWriteError::VersionConflict | PaidWriteError::KeyRecorded) => {
                Err(OrderError::Conflict.into())
            }
            Err(PaidWriteError::IntentClosed) => Err(OrderError::PaymentUnavailable {
                retry_after: Duration::from_secs(1),
            }
            .into()),
        }
    }
}
