-- Every table the embedded store (redb) has, for N replicas writing one database (see
-- src/store/postgres/write.rs). A domain record is `record bytea`: the crate's codec (a
-- format byte, then postcard), as the embedded store keeps it; beside it are the plain
-- columns that queries filter and order on. Text that a listing orders by is COLLATE "C":
-- byte order, the order of redb's keys. Every aggregate row (paymethods, orders, shipments)
-- has the version its record has: a change states the version it expects (UPDATE ... WHERE
-- version = $expected) and a creation is INSERT ... ON CONFLICT DO NOTHING, so two replicas
-- can never both write one version.
--
-- events (0001): `payload` holds the codec-encoded `Payload` (the event's kind-specific
-- part); the rest of the envelope is the row's columns (position, aggregate, version,
-- customer, recorded_at), and `kind` is the payload's kind (paymethod, order, shipment).
-- A record names its event's position, so positions are drawn before the row is written
-- (INSERT ... OVERRIDING SYSTEM VALUE); the identity's sequence gets a name to draw from.
DO $$
BEGIN
    EXECUTE format('ALTER SEQUENCE %s RENAME TO event_positions',
                   pg_get_serial_sequence('events', 'position'));
END
$$;

-- Ids the store assigns (the embedded store's `payment_id`, `shipment_id` and `audit_id`
-- sequences). Drawn only for commands that pass their checks; not gap-free (a batch that
-- rolls back keeps its draws).
CREATE SEQUENCE payment_ids;
CREATE SEQUENCE shipment_ids;
CREATE SEQUENCE audit_ids;

-- The payment-method aggregate: StoredMethod. Removed methods are deleted.
CREATE TABLE paymethods (
    id       bigint PRIMARY KEY,
    customer text COLLATE "C" NOT NULL,
    version  bigint NOT NULL,
    record   bytea  NOT NULL
);
CREATE INDEX paymethods_of_customer ON paymethods (customer, id);

-- Payment records: Payment. Never changed once written.
CREATE TABLE payments (
    id        bigint PRIMARY KEY,
    customer  text COLLATE "C" NOT NULL,
    paymethod bigint,
    record    bytea  NOT NULL
);
CREATE INDEX payments_of_customer ON payments (customer, id);
CREATE INDEX payments_of_paymethod ON payments (paymethod, id) WHERE paymethod IS NOT NULL;

-- Under a customer's Idempotency-Key: IdempotencyRecord; `created_ms` (ms since the epoch,
-- 0 for earlier times) orders pruning.
CREATE TABLE idempotency (
    customer   text COLLATE "C" NOT NULL,
    idem_key   text COLLATE "C" NOT NULL,
    created_ms bigint NOT NULL,
    record     bytea  NOT NULL,
    PRIMARY KEY (customer, idem_key)
);
CREATE INDEX idempotency_by_age ON idempotency (created_ms, customer, idem_key);

-- A customer's messages, listed by the command that records their event (the message's
-- id is the event's position), before the notifier has created the message: a listing
-- shows a message from its creation on, and pages over this list.
CREATE TABLE customer_messages (
    customer text COLLATE "C" NOT NULL,
    id       bigint NOT NULL,
    PRIMARY KEY (customer, id)
);

-- Messages: Message; `pending` while it waits for a channel.
CREATE TABLE messages (
    id      bigint  PRIMARY KEY,
    pending boolean NOT NULL,
    record  bytea   NOT NULL
);
CREATE INDEX messages_pending ON messages (id) WHERE pending;

-- A message's delivery attempts: DeliveryAttempt (numbers are u32, hence bigint).
CREATE TABLE delivery_attempts (
    message bigint NOT NULL,
    number  bigint NOT NULL,
    record  bytea  NOT NULL,
    PRIMARY KEY (message, number)
);

-- The mypage view's rows: `what` 0 a method (PaymentMethod, by method id), 1 a message
-- (Message, by message id), 2 an order (OrderView, by order id).
CREATE TABLE mypage (
    customer text COLLATE "C" NOT NULL,
    what     smallint NOT NULL,
    id       bigint   NOT NULL,
    record   bytea    NOT NULL,
    PRIMARY KEY (customer, what, id)
);

-- The log readers' checkpoints are in `cursors` (0002, 0005).

-- Open payment intents: Intent, by base; `nonce` and `opened_ms` (ms since the epoch, 0 for
-- earlier times) are the record's, for the checks and the listing by age.
CREATE TABLE intents (
    base      text COLLATE "C" PRIMARY KEY,
    nonce     text   NOT NULL,
    opened_ms bigint NOT NULL,
    record    bytea  NOT NULL
);
CREATE INDEX intents_by_age ON intents (opened_ms, base);

-- Refunds owed, by the authorization to refund: RefundOwed.
CREATE TABLE refunds_owed (
    auth   text COLLATE "C" PRIMARY KEY,
    record bytea NOT NULL
);

-- Named settings that must survive a restart.
CREATE TABLE meta (
    name  text  PRIMARY KEY,
    value bytea NOT NULL
);

-- API keys by the keyed hash of the key: KeyRecord; and key id -> hash.
CREATE TABLE api_keys (
    hash   text COLLATE "C" PRIMARY KEY,
    record bytea NOT NULL
);
CREATE TABLE key_ids (
    id   text PRIMARY KEY,
    hash text COLLATE "C" NOT NULL
);

-- The audit log: AuditEntry as the command gave it; its id is the row's, drawn from
-- audit_ids as the row is written (the record's own id is not read).
CREATE TABLE audit (
    id     bigint PRIMARY KEY,
    record bytea  NOT NULL
);

-- The catalogue: Product, by sku; `active` is the record's.
CREATE TABLE products (
    sku    text COLLATE "C" PRIMARY KEY,
    active boolean NOT NULL,
    record bytea   NOT NULL
);

-- The order aggregate: StoredOrder.
CREATE TABLE orders (
    id       bigint PRIMARY KEY,
    customer text COLLATE "C" NOT NULL,
    version  bigint NOT NULL,
    record   bytea  NOT NULL
);
CREATE INDEX orders_of_customer ON orders (customer, id);

-- The shipment aggregate: Shipment; at most one per order, whoever makes it. `status` is
-- the record's status code (0 pending, 1 shipped, 2 cancelled).
CREATE TABLE shipments (
    id       bigint   PRIMARY KEY,
    order_id bigint   NOT NULL UNIQUE,
    status   smallint NOT NULL,
    version  bigint   NOT NULL,
    record   bytea    NOT NULL
);
CREATE INDEX shipments_by_status ON shipments (status, id);

-- The cancellation saga's steps still to carry out: (order, step code).
CREATE TABLE saga_steps (
    order_id bigint   NOT NULL,
    step     smallint NOT NULL,
    PRIMARY KEY (order_id, step)
);
