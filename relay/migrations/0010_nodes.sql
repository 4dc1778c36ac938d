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

-- Node events before this node's own registration were not indexed: walk again from
-- the contract's first block (share events are written idempotently).
DELETE FROM indexer_cursor;
