-- The index on PostgreSQL, as the SQLite migrations leave it (migrations/sqlite tells
-- each table's story). Integers are BIGINT throughout: the relay reads every number as
-- a 64-bit integer on both engines. Ids that
-- pages are keyed on compare byte by byte (COLLATE "C"), as SQLite compares them.

-- Shares this relay made, with their on-chain state; a pending row is the outbox entry
-- the chain writer retries until the chain has it.
CREATE TABLE shares (
    share_id       TEXT COLLATE "C" PRIMARY KEY,
    data_hash      TEXT NOT NULL,
    owner          TEXT NOT NULL,
    owner_node     TEXT NOT NULL,
    recipient      TEXT NOT NULL,
    recipient_node TEXT NOT NULL,
    price          TEXT NOT NULL,
    expires_at     BIGINT,
    revoked_at     BIGINT,
    key_version    BIGINT NOT NULL,
    plaintext_len  BIGINT NOT NULL,
    envelope_len   BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('pending', 'recorded')),
    tx_hash        TEXT,
    block_number   BIGINT,
    block_hash     TEXT,
    attempts       BIGINT NOT NULL DEFAULT 0,
    last_error     TEXT
);
CREATE INDEX shares_by_hash ON shares (data_hash);
CREATE INDEX shares_by_state ON shares (state);
CREATE INDEX shares_by_created ON shares (created_at, share_id);

-- The contract's share events that concern this node, from finalized blocks.
CREATE TABLE share_events (
    block_number    BIGINT NOT NULL,
    event_index     BIGINT NOT NULL,
    block_hash      TEXT NOT NULL,
    extrinsic_index BIGINT NOT NULL,
    extrinsic_hash  TEXT NOT NULL,
    share_id        TEXT COLLATE "C" NOT NULL,
    owner           TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    data_hash       TEXT NOT NULL,
    at              BIGINT NOT NULL,
    action          TEXT NOT NULL,
    owner_node      TEXT,
    kind            TEXT,
    paid            TEXT,
    PRIMARY KEY (block_number, event_index)
);
CREATE INDEX share_events_by_hash ON share_events (data_hash);
CREATE INDEX share_events_by_share ON share_events (share_id);
CREATE INDEX share_events_created ON share_events (data_hash, recipient) WHERE kind = 'created';
CREATE INDEX share_events_received ON share_events (recipient, at, share_id)
    WHERE kind = 'created';
CREATE INDEX share_events_by_share_kind ON share_events (share_id, kind);
CREATE INDEX share_events_without_owner_node ON share_events (owner) WHERE owner_node IS NULL;

CREATE TABLE indexer_cursor (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    last_block BIGINT NOT NULL
);

-- Nonces of signed P2P requests seen recently, shared by every replica of the node.
CREATE TABLE p2p_nonces (
    account TEXT COLLATE "C" NOT NULL,
    nonce   TEXT NOT NULL,
    seen_at BIGINT NOT NULL,
    PRIMARY KEY (account, nonce)
);
CREATE INDEX p2p_nonces_by_time ON p2p_nonces (seen_at);

-- The key release outbox; the unique index lets one paid receipt buy one release, on
-- whichever replica it is asked.
CREATE TABLE key_releases (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    share_id        TEXT COLLATE "C" NOT NULL,
    recipient       TEXT NOT NULL,
    released_at     BIGINT NOT NULL,
    receipt_paid_at BIGINT,
    state           TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT,
    tx_hash         TEXT,
    block_number    BIGINT,
    updated_at      BIGINT NOT NULL,
    written_at      BIGINT NOT NULL DEFAULT 0,
    acknowledged_at BIGINT
);
CREATE UNIQUE INDEX key_releases_one_per_receipt
    ON key_releases (share_id, recipient, receipt_paid_at)
    WHERE receipt_paid_at IS NOT NULL;
CREATE INDEX key_releases_pending ON key_releases (next_attempt_at) WHERE state = 'pending';
CREATE INDEX key_releases_by_state ON key_releases (state, updated_at);
CREATE INDEX key_releases_pending_since ON key_releases (written_at) WHERE state = 'pending';
CREATE INDEX key_releases_unacknowledged ON key_releases (id)
    WHERE state = 'refused' AND acknowledged_at IS NULL;

-- The directory of registered nodes, and how far it is indexed.
CREATE TABLE nodes (
    account       TEXT COLLATE "C" PRIMARY KEY,
    node_id       TEXT COLLATE "C" NOT NULL,
    endpoint      TEXT NOT NULL,
    key_version   BIGINT NOT NULL,
    registered_at BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    block_number  BIGINT NOT NULL
);
CREATE INDEX nodes_by_node_id ON nodes (node_id, account);

CREATE TABLE directory_cursor (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    last_block BIGINT NOT NULL
);
