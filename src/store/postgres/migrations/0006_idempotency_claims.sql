-- Idempotency-Keys in flight across replicas: a request claims its key here before it runs,
-- so a second request with the key on another replica is refused (409) while the first runs,
-- as one process refuses it by itself. A claim lasts until its request's outcome is stored
-- (then it is deleted) or, should its replica die, until `until`.
CREATE TABLE idempotency_claims (
    customer text        COLLATE "C" NOT NULL,
    idem_key text        COLLATE "C" NOT NULL,
    holder   text        NOT NULL,
    until    timestamptz NOT NULL,
    PRIMARY KEY (customer, idem_key)
);
