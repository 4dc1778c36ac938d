-- The sharing node's id beside its account, so listings filter by sender in SQL. Rows
-- indexed before this migration get it at start-up (`Index::open`: node ids are hashes
-- of accounts, which SQL cannot compute).
ALTER TABLE share_events ADD COLUMN owner_node TEXT;
