-- The rows `Index::open` still has to give an `owner_node`: looked up by index at every
-- start, instead of a scan of every share event (after the first start, none).
CREATE INDEX share_events_without_owner_node ON share_events (owner) WHERE owner_node IS NULL;
