-- Reusable SMS messages (R4, R22): the current definition, possibly a draft,
-- and every published revision, frozen. Workflows send the published one.
CREATE TABLE sms_messages (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    from_number_id TEXT NOT NULL,
    subscription_type_id TEXT,
    state TEXT NOT NULL,
    revision BIGINT NOT NULL,
    published_revision BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX sms_messages_account ON sms_messages (account_id, id);

CREATE TABLE sms_message_revisions (
    sms_message_id TEXT NOT NULL REFERENCES sms_messages(id),
    revision BIGINT NOT NULL,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    from_number_id TEXT NOT NULL,
    subscription_type_id TEXT,
    published_at BIGINT NOT NULL,
    PRIMARY KEY (sms_message_id, revision)
);
