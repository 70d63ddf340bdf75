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
    revision INTEGER NOT NULL,
    published_revision INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX sms_messages_account ON sms_messages (account_id, id);

CREATE TABLE sms_message_revisions (
    sms_message_id TEXT NOT NULL REFERENCES sms_messages(id),
    revision INTEGER NOT NULL,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    from_number_id TEXT NOT NULL,
    subscription_type_id TEXT,
    published_at INTEGER NOT NULL,
    PRIMARY KEY (sms_message_id, revision)
);
