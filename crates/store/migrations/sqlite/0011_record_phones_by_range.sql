-- The dry run (R24) reads a page of records as an id range of one type and
-- the phones of that range as one contiguous scan of this index, instead of
-- seeking the phone index once per record. Every reader by record names the
-- account and the type, so this index replaces the one led by record_id.
CREATE INDEX record_phones_range
    ON record_phones (account_id, object_type, record_id, line_kind, calling_code, phone);
DROP INDEX record_phones_record_lines;
