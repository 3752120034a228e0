-- Cluster fencing (issue 17): the epoch of each partition's current owner.
-- A node that takes a partition's lease raises the epoch before loading it;
-- every commit of that partition's events checks, in its own transaction,
-- that the epoch is still the one it claimed, so an owner whose lease
-- expired (paused, partitioned) can no longer store anything.
CREATE TABLE partition_epochs (
    partition INTEGER PRIMARY KEY,
    epoch BIGINT NOT NULL,
    node TEXT NOT NULL,
    claimed_at_us BIGINT NOT NULL
);
