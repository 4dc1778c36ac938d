-- Nonces of signed P2P requests seen recently, so a captured request cannot be
-- replayed. Rows older than twice the freshness window are pruned.
CREATE TABLE p2p_nonces (
    account TEXT NOT NULL,     -- 0x<64 hex>
    nonce   TEXT NOT NULL,     -- 32 hex
    seen_at BIGINT NOT NULL,   -- ms since the epoch, relay clock
    PRIMARY KEY (account, nonce)
);
CREATE INDEX p2p_nonces_by_time ON p2p_nonces (seen_at);
