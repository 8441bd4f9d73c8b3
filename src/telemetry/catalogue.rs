//! The catalogue of every metric paytree records: names, descriptions, and the series that
//! start at zero.

/// Metric names, in one place. Counters end in `_total`, durations in `_seconds`; labels are
/// of low cardinality only (never ids, customers or numbers).
pub mod names {
    pub const HTTP_REQUESTS: &str = "paytree_http_requests_total";
    pub const HTTP_DURATION: &str = "paytree_http_request_duration_seconds";
    pub const PAYMENT_CALLS: &str = "paytree_payment_calls_total";
    pub const PAYMENT_DURATION: &str = "paytree_payment_call_duration_seconds";
    pub const BREAKER_STATE: &str = "paytree_breaker_state";
    pub const BREAKER_TRANSITIONS: &str = "paytree_breaker_transitions_total";
    pub const STORE_COMMIT_DURATION: &str = "paytree_store_commit_duration_seconds";
    pub const STORE_BATCH_SIZE: &str = "paytree_store_batch_size";
    pub const STORE_WRITABLE: &str = "paytree_store_writable";
    pub const STORE_FAILURES: &str = "paytree_store_failures_total";
    pub const STORE_REOPENS: &str = "paytree_store_reopens_total";
    pub const AGGREGATES_LIVE: &str = "paytree_aggregates_live";
    pub const AGGREGATE_ACTIVATIONS: &str = "paytree_aggregate_activations_total";
    pub const AGGREGATE_PASSIVATIONS: &str = "paytree_aggregate_passivations_total";
    pub const AGGREGATE_REHYDRATION: &str = "paytree_aggregate_rehydration_seconds";
    pub const AGGREGATES_QUARANTINED: &str = "paytree_aggregates_quarantined";
    pub const QUARANTINES: &str = "paytree_quarantines_total";
    pub const MAILBOX_REJECTIONS: &str = "paytree_mailbox_rejections_total";
    pub const COMMANDS_ABANDONED: &str = "paytree_commands_abandoned_total";
    pub const CONFLICTS_RETRIED: &str = "paytree_conflicts_retried_total";
    pub const ACTOR_RESTARTS: &str = "paytree_actor_restarts_total";
    pub const NOTIFIER_LAG: &str = "paytree_notifier_lag_events";
    pub const PROJECTOR_LAG: &str = "paytree_projector_lag_events";
    pub const MESSAGES_PENDING: &str = "paytree_messages_pending";
    pub const DELIVERY_ATTEMPTS: &str = "paytree_delivery_attempts_total";
    pub const DELIVERIES: &str = "paytree_deliveries_total";
    pub const DELIVERY_DELAY: &str = "paytree_delivery_delay_seconds";
    pub const PROJECTION_DELAY: &str = "paytree_projection_delay_seconds";
    pub const INTENTS_OPEN: &str = "paytree_payment_intents_open";
    pub const RECONCILIATIONS: &str = "paytree_reconciliations_total";
    pub const PRUNED: &str = "paytree_pruned_records_total";
    pub const IDEMPOTENCY: &str = "paytree_idempotency_keys_total";
    pub const ORDERS: &str = "paytree_orders_total";
    pub const ORDER_REFUNDS: &str = "paytree_order_refunds_total";
    pub const SHIPMENTS: &str = "paytree_shipments_total";
    pub const SHIPPING_LAG: &str = "paytree_shipping_lag_events";
    pub const SHIPPING_PAUSED: &str = "paytree_shipping_paused";
    pub const SAGA_LAG: &str = "paytree_saga_lag_events";
    pub const SAGA_PENDING: &str = "paytree_saga_pending";
    pub const SAGA_STEPS: &str = "paytree_saga_steps_total";
    pub const CANCEL_DURATION: &str = "paytree_order_cancel_duration_seconds";
    pub const STORE_FILE: &str = "paytree_store_file_bytes";
    pub const DATA_DIR: &str = "paytree_data_dir_bytes";
    pub const DATA_DIR_AVAILABLE: &str = "paytree_data_dir_available_bytes";
    pub const DATA_DIR_FILESYSTEM: &str = "paytree_data_dir_filesystem_bytes";
}

/// Buckets for delays that run from milliseconds (normal) to hours (a dead webhook).
pub(super) const DELAY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0, 1800.0, 3600.0,
];

pub(super) fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    use names::*;
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests by method, matched route and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "HTTP request latency by method, route and status"
    );
    describe_counter!(
        PAYMENT_CALLS,
        "Calls to the payment system by call (verification, charge, refund) and outcome \
         (approved, declined, refunded, failed, timeout, rejected: refused before leaving)"
    );
    describe_histogram!(
        PAYMENT_DURATION,
        Unit::Seconds,
        "Payment system call latency by call and outcome"
    );
    describe_gauge!(
        BREAKER_STATE,
        "Circuit breaker state: 0 closed, 1 open, 2 half-open"
    );
    describe_counter!(
        BREAKER_TRANSITIONS,
        "Circuit breaker transitions by the state entered"
    );
    describe_histogram!(
        STORE_COMMIT_DURATION,
        Unit::Seconds,
        "Durable group-commit latency"
    );
    describe_histogram!(STORE_BATCH_SIZE, Unit::Count, "Commands per group commit");
    describe_gauge!(
        STORE_WRITABLE,
        "1 while the store commits; 0 after a storage I/O error (a full disk) until the database is reopened"
    );
    describe_counter!(
        STORE_FAILURES,
        "Storage I/O errors that made the store unwritable (each starts a reopening)"
    );
    describe_counter!(
        STORE_REOPENS,
        "Attempts to reopen the database after a storage I/O error, by outcome (reopened, failed)"
    );
    describe_gauge!(AGGREGATES_LIVE, "Live aggregate actors, by kind");
    describe_counter!(AGGREGATE_ACTIVATIONS, "Aggregate actors started, by kind");
    describe_counter!(
        AGGREGATE_PASSIVATIONS,
        "Aggregate actors stopped to free memory, by kind and reason (idle, lru)"
    );
    describe_histogram!(
        AGGREGATE_REHYDRATION,
        Unit::Seconds,
        "Time to load a passivated aggregate from the store, by kind"
    );
    describe_gauge!(
        AGGREGATES_QUARANTINED,
        "Aggregates quarantined after repeated failures, by kind"
    );
    describe_counter!(
        QUARANTINES,
        "Aggregates quarantined after repeated failures, by actor kind"
    );
    describe_counter!(
        MAILBOX_REJECTIONS,
        "Commands refused with 503 because their aggregate's mailbox was full, by kind"
    );
    describe_counter!(
        COMMANDS_ABANDONED,
        "Commands not run because their caller had gone or they waited past their start-by time, by aggregate kind and reason"
    );
    describe_counter!(
        CONFLICTS_RETRIED,
        "Writes another replica's write got ahead of, decided again on the state read anew, by aggregate kind"
    );
    describe_counter!(
        ACTOR_RESTARTS,
        "Actor restarts by the supervisor, by actor kind"
    );
    describe_gauge!(
        NOTIFIER_LAG,
        "Events recorded but not yet turned into messages"
    );
    describe_gauge!(
        PROJECTOR_LAG,
        "Events recorded but not yet applied to the mypage views"
    );
    describe_gauge!(
        MESSAGES_PENDING,
        "Messages waiting for the webhook (queued or between retries)"
    );
    describe_counter!(
        DELIVERY_ATTEMPTS,
        "Message delivery attempts by channel and outcome (delivered, rejected, timeout, error)"
    );
    describe_counter!(
        DELIVERIES,
        "Messages finished by channel and outcome (delivered, failed after the last retry)"
    );
    describe_histogram!(
        DELIVERY_DELAY,
        Unit::Seconds,
        "From an event's commit to its message's delivery, by channel"
    );
    describe_gauge!(
        INTENTS_OPEN,
        "Payment calls started whose outcome is not stored yet (in flight or awaiting reconciliation)"
    );
    describe_counter!(
        RECONCILIATIONS,
        "Reconciler steps by outcome (not_found_yet, not_charged, declined, abandoned, refunded, refund_failed, unreachable)"
    );
    describe_counter!(PRUNED, "Idempotency records deleted after their retention");
    describe_counter!(
        IDEMPOTENCY,
        "Registrations and orders with an Idempotency-Key by outcome (new, replayed, mismatch, in_flight)"
    );
    describe_histogram!(
        PROJECTION_DELAY,
        Unit::Seconds,
        "From an event's commit to its mypage view's commit"
    );
    describe_counter!(
        ORDERS,
        "Orders by outcome: placed, declined, invalid, payment_unavailable; later shipped, \
         cancelled, cancellation_refused"
    );
    describe_counter!(
        ORDER_REFUNDS,
        "Refund calls for cancelled orders by outcome (refunded, failed)"
    );
    describe_counter!(
        SHIPMENTS,
        "Shipments by what happened to them (created, shipped, cancelled)"
    );
    describe_gauge!(
        SHIPPING_LAG,
        "Events committed that the shipping actor has not handled yet"
    );
    describe_gauge!(SHIPPING_PAUSED, "1 while shipping is paused, else 0");
    describe_gauge!(
        SAGA_LAG,
        "Events committed that the cancellation saga has not handled yet"
    );
    describe_gauge!(
        SAGA_PENDING,
        "Saga steps waiting to be carried out, by step (a refund that keeps failing stays here)"
    );
    describe_counter!(
        SAGA_STEPS,
        "Saga steps carried out, by step and outcome (done, failed)"
    );
    describe_histogram!(
        CANCEL_DURATION,
        Unit::Seconds,
        "From an order's cancellation request to its end (refunded or refused)"
    );
    describe_gauge!(
        STORE_FILE,
        Unit::Bytes,
        "Size of the store's file (paytree.redb), read at each scrape"
    );
    describe_gauge!(
        DATA_DIR,
        Unit::Bytes,
        "Size of every file in the data directory (the store, the secret, a backup being copied)"
    );
    describe_gauge!(
        DATA_DIR_AVAILABLE,
        Unit::Bytes,
        "Free space on the data directory's file system, as an unprivileged process may use it"
    );
    describe_gauge!(
        DATA_DIR_FILESYSTEM,
        Unit::Bytes,
        "Size of the data directory's file system"
    );
}

/// Registers counters and gauges whose labels are known in advance, at zero, so that
/// dashboards and `rate()` see a series from the first scrape rather than from the first
/// event (a quarantine may never happen, and its panel must still say 0).
/// The aggregate kinds, as their metrics label them.
const KINDS: [&str; 3] = ["paymethod", "order", "shipment"];

pub(super) fn start_at_zero() {
    use metrics::{counter, gauge};
    use names::*;
    for call in ["verification", "charge"] {
        for outcome in ["approved", "declined", "rejected", "timeout", "failed"] {
            counter!(PAYMENT_CALLS, "call" => call, "outcome" => outcome).increment(0);
        }
    }
    for outcome in ["refunded", "rejected", "timeout", "failed"] {
        counter!(PAYMENT_CALLS, "call" => "refund", "outcome" => outcome).increment(0);
    }
    for to in ["open", "half-open", "closed"] {
        counter!(BREAKER_TRANSITIONS, "to" => to).increment(0);
    }
    let children = [
        "store_writer",
        "notifier",
        "projector",
        "payment",
        "reconciler",
        "router",
        "orders",
        "shipments",
        "shipping",
        "saga",
    ];
    for actor in children.into_iter().chain(KINDS) {
        counter!(ACTOR_RESTARTS, "actor" => actor).increment(0);
    }
    for kind in KINDS {
        counter!(QUARANTINES, "actor" => kind).increment(0);
        for reason in ["idle", "lru"] {
            counter!(AGGREGATE_PASSIVATIONS, "kind" => kind, "reason" => reason).increment(0);
        }
        counter!(AGGREGATE_ACTIVATIONS, "kind" => kind).increment(0);
        counter!(MAILBOX_REJECTIONS, "kind" => kind).increment(0);
        counter!(CONFLICTS_RETRIED, "kind" => kind).increment(0);
        for reason in ["caller_gone", "too_late"] {
            counter!(COMMANDS_ABANDONED, "kind" => kind, "reason" => reason).increment(0);
        }
        gauge!(AGGREGATES_LIVE, "kind" => kind).set(0.0);
        gauge!(AGGREGATES_QUARANTINED, "kind" => kind).set(0.0);
    }
    counter!(PRUNED).increment(0);
    for outcome in ["new", "replayed", "mismatch", "in_flight"] {
        counter!(IDEMPOTENCY, "outcome" => outcome).increment(0);
    }
    for outcome in [
        "placed",
        "declined",
        "invalid",
        "payment_unavailable",
        "shipped",
        "cancelled",
        "cancellation_refused",
    ] {
        counter!(ORDERS, "outcome" => outcome).increment(0);
    }
    for outcome in ["refunded", "failed"] {
        counter!(ORDER_REFUNDS, "outcome" => outcome).increment(0);
    }
    for status in ["created", "shipped", "cancelled"] {
        counter!(SHIPMENTS, "status" => status).increment(0);
    }
    for step in ["cancel_shipment", "refund", "mark_shipped"] {
        gauge!(SAGA_PENDING, "step" => step).set(0.0);
        for outcome in ["done", "failed"] {
            counter!(SAGA_STEPS, "step" => step, "outcome" => outcome).increment(0);
        }
    }
    for outcome in [
        "not_found_yet",
        "not_charged",
        "declined",
        "abandoned",
        "refunded",
        "refund_failed",
        "unreachable",
        "breaker_open",
    ] {
        counter!(RECONCILIATIONS, "outcome" => outcome).increment(0);
    }
    for outcome in ["delivered", "rejected", "timeout", "error"] {
        counter!(DELIVERY_ATTEMPTS, "channel" => "webhook", "outcome" => outcome).increment(0);
    }
    for outcome in ["delivered", "failed"] {
        counter!(DELIVERIES, "channel" => "webhook", "outcome" => outcome).increment(0);
    }
    for gauge in [NOTIFIER_LAG, PROJECTOR_LAG, MESSAGES_PENDING, INTENTS_OPEN] {
        gauge!(gauge).set(0.0);
    }
    counter!(STORE_FAILURES).increment(0);
    for outcome in ["reopened", "failed"] {
        counter!(STORE_REOPENS, "outcome" => outcome).increment(0);
    }
}
