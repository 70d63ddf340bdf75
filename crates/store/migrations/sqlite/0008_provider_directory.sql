-- Numbers and users synced from a provider connection's own directory
-- (Aircall): the provider's id of each (`external_id`), and for users the
-- connection they came from (numbers already name it in `provider`). A
-- re-sync finds them again by these, so it never creates duplicates.
ALTER TABLE numbers ADD COLUMN external_id TEXT;
ALTER TABLE users ADD COLUMN provider TEXT;
ALTER TABLE users ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX numbers_external_id ON numbers (account_id, provider, external_id)
    WHERE external_id IS NOT NULL;
CREATE UNIQUE INDEX users_external_id ON users (account_id, provider, external_id)
    WHERE external_id IS NOT NULL;
