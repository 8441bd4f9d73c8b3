-- Id sequences, one per aggregate kind: each replica's router reserves a block of ids at a
-- time (as with the embedded store), so ids never collide across replicas. The first id of
-- a kind is 1.
CREATE TABLE id_sequences (
    name text   PRIMARY KEY,
    next bigint NOT NULL CHECK (next >= 1)
);
