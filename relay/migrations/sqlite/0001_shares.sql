-- Shares this relay made, with their on-chain state. A share is written here before
-- its chain call, as 'pending'; the outbox worker retries pending shares until the
-- chain has them ('recorded').
CREATE TABLE shares (
    share_id      TEXT PRIMARY KEY,      -- share_<32 hex>
    data_hash     TEXT NOT NULL,         -- sha256:<64 hex>
    owner         TEXT NOT NULL,         -- 0x<64 hex> account
    owner_node    TEXT NOT NULL,         -- node_<12 hex>, derived from owner
    recipient     TEXT NOT NULL,         -- 0x<64 hex> account
    recipient_node TEXT NOT NULL,        -- node_<12 hex>, derived from recipient
    price         TEXT NOT NULL,         -- decimal, smallest unit
    expires_at    BIGINT,                -- ms since the epoch
    revoked_at    BIGINT,                -- ms since the epoch, relay clock
    key_version   BIGINT NOT NULL,       -- master key version of the custody stanza
    plaintext_len BIGINT NOT NULL,
    envelope_len  BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,       -- ms since the epoch, relay clock
    state         TEXT NOT NULL CHECK (state IN ('pending', 'recorded')),
    tx_hash       TEXT,
    block_number  BIGINT,
    block_hash    TEXT,
    attempts      BIGINT NOT NULL DEFAULT 0,
    last_error    TEXT
);
CREATE INDEX shares_by_hash ON shares (data_hash);
CREATE INDEX shares_by_state ON shares (state);
CREATE INDEX shares_by_created ON shares (created_at, share_id);
