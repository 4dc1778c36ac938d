-- Key releases to other nodes. A release is written here before its envelope leaves
-- and recorded on chain after, several to a transaction: this table is that outbox,
-- and it outlives a crash between the two.
--
-- A priced share's release uses the recipient's paid receipt, named by its `paid_at`;
-- the unique index lets one receipt buy one release even before the chain's record of
-- it lands.
CREATE TABLE key_releases (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    share_id        TEXT NOT NULL,
    recipient       TEXT NOT NULL,    -- 0x<64 hex>
    released_at     BIGINT NOT NULL,  -- block time of the decision released on (ms)
    receipt_paid_at BIGINT,           -- the paid receipt used, for a priced share
    state           TEXT NOT NULL,    -- pending | recorded | refused
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL DEFAULT 0,  -- relay clock (ms)
    last_error      TEXT,
    tx_hash         TEXT,
    block_number    BIGINT,
    updated_at      BIGINT NOT NULL   -- relay clock (ms)
);
CREATE UNIQUE INDEX key_releases_one_per_receipt
    ON key_releases (share_id, recipient, receipt_paid_at)
    WHERE receipt_paid_at IS NOT NULL;
CREATE INDEX key_releases_pending ON key_releases (next_attempt_at) WHERE state = 'pending';
CREATE INDEX key_releases_by_state ON key_releases (state, updated_at);
