-- Status webhooks find a message by the provider's id, which is unknown
-- until the hand-off: indexing the NULL of every new message only added an
-- entry at insert and moved it at hand-off.
DROP INDEX messages_provider_id;
CREATE INDEX messages_provider_id ON messages (provider, provider_message_id)
    WHERE provider_message_id IS NOT NULL;
