-- A conversation is found by its thread, (account, number, phone), and new
-- ones get time-ordered ids. Ids derived by hashing the thread put each new
-- conversation on a random page of the id index, the account's list and
-- the messages' thread index, and every batch wrote those pages back.
-- The derived ids were unique per thread, so existing rows satisfy this.
CREATE UNIQUE INDEX conversations_thread ON conversations (account_id, number_id, phone);
