-- The event log. `position` comes from an identity (a sequence), which hands out numbers in
-- the order transactions ask for them, not the order they commit in; so every row also
-- carries its transaction's id, and readers take rows in (xid, position) order, only below
-- the oldest transaction still running (see src/store/postgres/log.rs).
CREATE TABLE events (
    position    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid         xid8        NOT NULL DEFAULT pg_current_xact_id(),
    kind        text        NOT NULL,
    aggregate   bigint      NOT NULL,
    version     bigint      NOT NULL,
    customer    text        NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    payload     bytea       NOT NULL,
    -- One writer per aggregate without placement: a second write of the same version fails.
    UNIQUE (kind, aggregate, version)
);

CREATE INDEX events_in_commit_order ON events (xid, position);
