-- Leases: work that one replica at a time must do (the relay, each consumer group, the
-- reconciler). A holder renews its lease before it expires; another replica takes an
-- expired one.
CREATE TABLE leases (
    name       text        PRIMARY KEY,
    holder     text        NOT NULL,
    expires_at timestamptz NOT NULL
);

-- How far a reader of the log has got, in commit order (see 0001).
CREATE TABLE cursors (
    name     text   PRIMARY KEY,
    xid      xid8   NOT NULL,
    position bigint NOT NULL
);
