-- When each release was written (relay clock, ms): how long a release has waited for
-- its chain record is what decides whether the relay goes on releasing. Rows from
-- before take their last update as an approximation.
ALTER TABLE key_releases ADD COLUMN written_at BIGINT NOT NULL DEFAULT 0;
UPDATE key_releases SET written_at = updated_at;
CREATE INDEX key_releases_pending_since ON key_releases (written_at) WHERE state = 'pending';

-- A refused record is a key that left without its record: releases stay paused until
-- an operator acknowledges it (relay clock, ms). Refusals from before count as seen.
ALTER TABLE key_releases ADD COLUMN acknowledged_at BIGINT;
UPDATE key_releases SET acknowledged_at = updated_at WHERE state = 'refused';
CREATE INDEX key_releases_unacknowledged ON key_releases (id)
    WHERE state = 'refused' AND acknowledged_at IS NULL;
