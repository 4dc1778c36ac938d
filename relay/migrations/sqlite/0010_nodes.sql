-- The directory: every node registered on the contract, as its last finalized
-- registration or update left it (one row per account). Rebuildable from the chain.
CREATE TABLE nodes (
    account      TEXT PRIMARY KEY,
    node_id      TEXT NOT NULL,
    endpoint     TEXT NOT NULL,
    key_version  BIGINT NOT NULL,
    registered_at BIGINT NOT NULL,  -- block time, ms
    updated_at   BIGINT NOT NULL,   -- block time, ms
    block_number BIGINT NOT NULL
);
CREATE INDEX nodes_by_node_id ON nodes (node_id, account);

-- How far the directory is indexed. An index made before this table walks the blocks
-- before its share cursor once more, for their node events only.
CREATE TABLE directory_cursor (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    last_block BIGINT NOT NULL
);
