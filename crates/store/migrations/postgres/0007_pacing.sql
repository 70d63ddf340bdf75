-- Shared pacing (R11): one row per token bucket (a number's segments per
-- second, a provider account's requests per minute). `next_free` is the
-- Unix microsecond from which the bucket has room again; every node reserves
-- slots here, so pacing holds across nodes.
CREATE TABLE pacing (
    bucket TEXT PRIMARY KEY,
    next_free BIGINT NOT NULL
);
-- The reaper looks for messages left in `sending` by a node that died.
CREATE INDEX messages_sending ON messages (lease_until) WHERE status = 'sending';
CREATE INDEX messages_lease_owner ON messages (lease_owner) WHERE lease_owner IS NOT NULL;
CREATE INDEX enrollments_lease_owner ON enrollments (lease_owner) WHERE lease_owner IS NOT NULL;
