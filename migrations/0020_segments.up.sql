-- 0020_segments: what keeps segment counts fast, and unique segment names.
--
-- Segment conditions compile to (see segments/compile.go):
--   tags            c.tags && $n / @> $n        → contacts_tags_idx (GIN, 0001)
--   attribute eq/in c.attributes @> $n::jsonb   → contacts_attributes_idx (GIN jsonb_path_ops, 0001)
--   eligibility     the exact predicate of contacts_marketable_idx (partial, 0001)
--   engagement      EXISTS over recipients by (contact_id, campaign_id) or (campaign_id, state)
-- The indexes below complete that set.

-- A segment's name is unique in its workspace, whatever the case.
CREATE UNIQUE INDEX segments_workspace_name_key ON segments (workspace_id, lower(name));

-- Engagement "replied": inbound messages attributed to a campaign, looked up per contact.
CREATE INDEX messages_inbound_campaign_idx ON messages (contact_id, campaign_id)
    WHERE direction = 'inbound' AND campaign_id IS NOT NULL;

-- Engagement conditions look up a campaign's recipients in some states ("did not read
-- campaign X" = campaign X, state sent/delivered) and need only their contact_id (and the
-- workspace_id every query checks). With both in the index that is an index-only scan; without
-- it, recipients_campaign_state_idx (campaign_id, state, id) costs a heap visit per recipient
-- (16k buffers for 100k recipients, a quarter of the query's work in the benchmark). It costs
-- one more index entry per recipient state change, which the status path already pays for
-- the other indexes (state is indexed, so those updates are never HOT).
CREATE INDEX recipients_campaign_state_contact_idx ON recipients (campaign_id, state, contact_id) INCLUDE (workspace_id);
