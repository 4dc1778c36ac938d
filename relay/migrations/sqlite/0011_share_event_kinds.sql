-- Each event's kind, and what a key release consumed, as columns of their own: the
-- listings filter on them in SQL that PostgreSQL runs too, without reading the JSON of
-- every event. Rows from before take them from their JSON once.
ALTER TABLE share_events ADD COLUMN kind TEXT;
ALTER TABLE share_events ADD COLUMN paid TEXT;
UPDATE share_events SET kind = json_extract(action, '$.kind');
UPDATE share_events SET paid = CAST(json_extract(action, '$.paid') AS TEXT)
    WHERE kind = 'key_released';

DROP INDEX share_events_created;
CREATE INDEX share_events_created ON share_events (data_hash, recipient) WHERE kind = 'created';
DROP INDEX share_events_received;
CREATE INDEX share_events_received ON share_events (recipient, at, share_id)
    WHERE kind = 'created';
CREATE INDEX share_events_by_share_kind ON share_events (share_id, kind);
