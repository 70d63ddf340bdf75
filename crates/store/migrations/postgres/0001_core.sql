-- Core schema. Times are Unix milliseconds (BIGINT) and JSON is TEXT, so the
-- same queries run on SQLite and PostgreSQL.
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    settings TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX users_account ON users (account_id, id);

CREATE TABLE numbers (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    e164 TEXT NOT NULL,
    label TEXT NOT NULL,
    provider TEXT NOT NULL,
    sms BIGINT NOT NULL,
    mms BIGINT NOT NULL,
    voice BIGINT NOT NULL,
    throughput BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (account_id, e164)
);

CREATE TABLE number_users (
    number_id TEXT NOT NULL REFERENCES numbers(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    PRIMARY KEY (number_id, user_id)
);

CREATE TABLE property_defs (
    account_id TEXT NOT NULL REFERENCES accounts(id),
    object_type TEXT NOT NULL,
    name TEXT NOT NULL,
    label TEXT NOT NULL,
    kind TEXT NOT NULL,
    PRIMARY KEY (account_id, object_type, name)
);

CREATE TABLE records (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    object_type TEXT NOT NULL,
    properties TEXT NOT NULL,
    associations TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX records_account_type ON records (account_id, object_type, id);

CREATE TABLE workflows (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    object_type TEXT NOT NULL,
    state TEXT NOT NULL,
    revision BIGINT NOT NULL,
    published_revision BIGINT,
    definition TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX workflows_account ON workflows (account_id, object_type, state);

CREATE TABLE workflow_revisions (
    workflow_id TEXT NOT NULL REFERENCES workflows(id),
    revision BIGINT NOT NULL,
    definition TEXT NOT NULL,
    published_at BIGINT NOT NULL,
    PRIMARY KEY (workflow_id, revision)
);

CREATE TABLE enrollments (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    workflow_id TEXT NOT NULL REFERENCES workflows(id),
    revision BIGINT NOT NULL,
    record_id TEXT NOT NULL,
    state TEXT NOT NULL,
    step BIGINT NOT NULL,
    due_at BIGINT,
    lease_owner TEXT,
    lease_until BIGINT,
    attempts BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX enrollments_due ON enrollments (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX enrollments_record ON enrollments (record_id, workflow_id);
CREATE INDEX enrollments_workflow ON enrollments (workflow_id, id);

CREATE TABLE action_logs (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    action_id TEXT NOT NULL,
    record_id TEXT NOT NULL,
    enrollment_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason_code TEXT,
    reason TEXT,
    message_id TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX action_logs_workflow ON action_logs (workflow_id, id);
CREATE INDEX action_logs_message ON action_logs (message_id) WHERE message_id IS NOT NULL;

CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    number_id TEXT NOT NULL,
    phone TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX conversations_account ON conversations (account_id, id);

CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    direction TEXT NOT NULL,
    from_e164 TEXT NOT NULL,
    to_e164 TEXT NOT NULL,
    body TEXT NOT NULL,
    encoding TEXT NOT NULL,
    segments BIGINT NOT NULL,
    status TEXT NOT NULL,
    provider TEXT NOT NULL,
    provider_message_id TEXT,
    error_code TEXT,
    error TEXT,
    number_id TEXT,
    user_id TEXT,
    conversation_id TEXT,
    record_id TEXT,
    workflow_id TEXT,
    enrollment_id TEXT,
    action_id TEXT,
    idempotency_key TEXT UNIQUE,
    counted_periods TEXT,
    due_at BIGINT,
    lease_owner TEXT,
    lease_until BIGINT,
    attempts BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    handed_off_at BIGINT
);
CREATE INDEX messages_outbox ON messages (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX messages_account ON messages (account_id, id);
CREATE INDEX messages_conversation ON messages (conversation_id, id);

CREATE TABLE engagements (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    record_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    message_id TEXT,
    body TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX engagements_record ON engagements (record_id, id);

CREATE TABLE send_counters (
    account_id TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    period TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (subject_kind, subject_id, period)
);
