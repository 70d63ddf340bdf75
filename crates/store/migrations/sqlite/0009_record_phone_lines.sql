-- What libphonenumber said about each indexed phone when it was validated
-- (its calling code and kind of line), so readers that trust the index —
-- the dry run (R24) — need not parse and validate the number again.
-- NULL on rows written before this migration: those are parsed as before.
ALTER TABLE record_phones ADD COLUMN line_kind TEXT;
ALTER TABLE record_phones ADD COLUMN calling_code INTEGER;
