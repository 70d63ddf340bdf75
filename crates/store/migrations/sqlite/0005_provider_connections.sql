-- An account's connections to SMS providers; config holds secrets and is
-- never returned by the API.
CREATE TABLE provider_connections (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    config TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX provider_connections_account ON provider_connections (account_id, id);
CREATE INDEX messages_provider_id ON messages (provider, provider_message_id);
