-- The shares made to this node, newest first, for `GET /data/list?direction=received`.
CREATE INDEX share_events_received
    ON share_events (recipient, at, share_id)
    WHERE json_extract(action, '$.kind') = 'created';
