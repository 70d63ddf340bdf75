-- Conversation activity and the agent's attention flag (R16, R29).
ALTER TABLE conversations ADD COLUMN last_message_at BIGINT;
ALTER TABLE conversations ADD COLUMN needs_attention TEXT;
CREATE INDEX conversations_recent ON conversations (account_id, last_message_at);
