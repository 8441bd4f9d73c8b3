//! The breaker's open period kept across restarts: each opening is recorded in the store's
//! meta table, and a start within a recorded period opens the breaker for what is left.

use super::breaker::Breaker;
use crate::actors::kernel::Writer;
use crate::store::{Store, StoreError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Opens the breaker for what is left of an open period recorded before a restart, so a
/// restart during a payment outage does not send a burst of calls to the payment system.
pub(crate) async fn restore(store: &Store, breaker: &Breaker) {
    let until = open_until(store).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot read the breaker's state; it starts closed");
        None
    });
    let Some(until) = until else {
        return;
    };
    if let Ok(remaining) = until.duration_since(SystemTime::now()) {
        tracing::warn!(
            remaining_ms = remaining.as_millis() as u64,
            "circuit breaker was open before the restart; it stays open for the rest of its period"
        );
        breaker.restore_open(remaining);
    }
}

/// The end of the breaker's last open period, as recorded in the store.
pub(crate) async fn open_until(store: &Store) -> Result<Option<SystemTime>, StoreError> {
    let bytes = store.meta(crate::store::BREAKER_OPEN_UNTIL).await?;
    Ok(bytes
        .and_then(|b| b.try_into().ok())
        .map(|b| UNIX_EPOCH + Duration::from_millis(u64::from_be_bytes(b))))
}

/// Records each opening of the breaker (the end of its open period) in the store.
pub(crate) fn keep_openings(breaker: &Breaker, writer: Writer) {
    let mut openings = breaker.openings();
    tokio::spawn(async move {
        while openings.changed().await.is_ok() {
            let Some(until) = *openings.borrow_and_update() else {
                continue;
            };
            let ms = until
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis() as u64;
            let command = crate::store::PutMeta {
                name: crate::store::BREAKER_OPEN_UNTIL,
                value: ms.to_be_bytes().to_vec(),
            };
            if let Err(e) = writer.write(command).await {
                tracing::warn!(error = %e, "breaker opening not recorded");
            }
        }
    });
}
