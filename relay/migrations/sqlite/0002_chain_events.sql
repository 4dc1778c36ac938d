-- Share events of the contract, indexed from finalized blocks, and how far the indexer
-- got. Rebuildable from the chain at any time.
CREATE TABLE share_events (
    block_number    BIGINT NOT NULL,
    event_index     BIGINT NOT NULL,
    block_hash      TEXT NOT NULL,
    extrinsic_index BIGINT NOT NULL,
    extrinsic_hash  TEXT NOT NULL,
    share_id        TEXT NOT NULL,
    owner           TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    data_hash       TEXT NOT NULL,
    at              BIGINT NOT NULL,       -- block time, ms
    action          TEXT NOT NULL,         -- JSON of the event's action
    PRIMARY KEY (block_number, event_index)
);
CREATE INDEX share_events_by_hash ON share_events (data_hash);
CREATE INDEX share_events_by_share ON share_events (share_id);

CREATE TABLE indexer_cursor (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    last_block BIGINT NOT NULL
);
