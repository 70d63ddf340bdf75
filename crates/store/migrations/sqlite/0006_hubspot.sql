-- HubSpot custom workflow action: one HubSpot portal per account (its app's
-- client secret verifies HubSpot's signatures; the token writes back), the
-- executions HubSpot asked for (deduplicated on callbackId; deferred ones
-- wait here until they are sent and completed through the callback API),
-- and the communications to log on HubSpot records (an outbox).
CREATE TABLE hubspot_portals (
    portal_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    client_secret TEXT NOT NULL,
    app_id TEXT,
    access_token TEXT NOT NULL,
    api_base_url TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX hubspot_portals_account ON hubspot_portals (account_id);
CREATE TABLE hubspot_executions (
    callback_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    portal_id TEXT NOT NULL,
    message_id TEXT,
    state TEXT NOT NULL,
    request_json TEXT NOT NULL,
    output_json TEXT NOT NULL,
    due_at INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX hubspot_executions_due ON hubspot_executions (due_at);
CREATE TABLE hubspot_logs (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    portal_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    direction TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    state TEXT NOT NULL,
    due_at INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    communication_id TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX hubspot_logs_due ON hubspot_logs (due_at);
CREATE INDEX hubspot_logs_message ON hubspot_logs (message_id);
