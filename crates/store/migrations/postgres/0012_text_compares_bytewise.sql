-- Every text column of smsflow's tables compares bytewise (COLLATE "C"),
-- as SQLite's do, whatever collation the database was created with.
--
-- Under a locale collation (C.UTF-8 or en_US.UTF-8 as much as ICU's) every
-- index probe on an id went through strcoll, about 7 % of the server's CPU
-- in a send run (BENCHMARKS.md), and ids sorted differently from SQLite.
-- One ALTER per table, so each index is rebuilt once; the rows themselves
-- are not rewritten. Later migrations give new text columns COLLATE "C"
-- (the schema test `every_text_column_compares_bytewise` holds them to it).
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN
        SELECT table_name,
               string_agg(format('ALTER COLUMN %I TYPE text COLLATE "C"', column_name), ', ') AS alters
        FROM information_schema.columns
        WHERE table_schema = current_schema()
          AND data_type = 'text'
          AND table_name = ANY (ARRAY[
              'accounts', 'action_logs', 'api_tokens', 'consent_ledger', 'consents',
              'conversations', 'engagements', 'enrollments', 'hubspot_executions',
              'hubspot_logs', 'hubspot_portals', 'messages', 'number_users', 'numbers',
              'pacing', 'property_defs', 'provider_connections', 'record_phones',
              'records', 'send_counters', 'sms_message_revisions', 'sms_messages',
              'subscription_types', 'users', 'workflow_revisions', 'workflows'])
        GROUP BY table_name
    LOOP
        EXECUTE format('ALTER TABLE %I %s', t.table_name, t.alters);
    END LOOP;
END $$;
