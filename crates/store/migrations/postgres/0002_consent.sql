-- Subscription types, SMS consent (current state plus an append-only ledger)
-- and a phone index of records, for opt-outs and inbound matching.
CREATE TABLE subscription_types (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    purpose TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX subscription_types_account ON subscription_types (account_id, id);

-- subscription_type_id '*' is the phone-wide state set by STOP/START.
CREATE TABLE consents (
    account_id TEXT NOT NULL,
    phone TEXT NOT NULL,
    subscription_type_id TEXT NOT NULL,
    status TEXT NOT NULL,
    legal_basis TEXT,
    explanation TEXT,
    source TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, phone, subscription_type_id)
);

CREATE TABLE consent_ledger (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    phone TEXT NOT NULL,
    subscription_type_id TEXT NOT NULL,
    status TEXT NOT NULL,
    legal_basis TEXT,
    explanation TEXT,
    source TEXT NOT NULL,
    wording TEXT,
    record_id TEXT,
    message_id TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX consent_ledger_phone ON consent_ledger (account_id, phone, id);

CREATE TABLE record_phones (
    account_id TEXT NOT NULL,
    phone TEXT NOT NULL,
    record_id TEXT NOT NULL,
    object_type TEXT NOT NULL,
    PRIMARY KEY (account_id, phone, record_id)
);
CREATE INDEX record_phones_record ON record_phones (record_id);
