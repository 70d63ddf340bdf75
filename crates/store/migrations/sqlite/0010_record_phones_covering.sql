-- The dry run (R24) joins every record of a page to its validated phones;
-- with the phone's line in the record index the join reads the index
-- alone instead of seeking the table once per phone.
CREATE INDEX record_phones_record_lines
    ON record_phones (record_id, account_id, line_kind, calling_code, phone);
DROP INDEX record_phones_record;
