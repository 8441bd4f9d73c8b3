-- A log reader's checkpoint also keeps where it is in the bus's stream (NATS JetStream's
-- sequence number of its last event), so a replica that takes the reader over goes on from
-- the next message. The relay's cursor leaves it 0.
ALTER TABLE cursors ADD COLUMN stream bigint NOT NULL DEFAULT 0;
