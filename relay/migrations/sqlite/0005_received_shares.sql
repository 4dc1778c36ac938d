-- A recipient's relay looks up the shares made to it by data hash on every read; the
-- other events of that data (one per key release, among others) must not slow that.
CREATE INDEX share_events_created
    ON share_events (data_hash, recipient)
    WHERE json_extract(action, '$.kind') = 'created';
