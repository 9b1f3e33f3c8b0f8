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

-- Engagement over "any campaign in the last N days": the few recent campaigns are looked up
-- in campaigns, then their recipients in a given state; with contact_id in the index that is
-- an index-only scan (no heap visit per recipient) feeding the semi-join with contacts.
CREATE INDEX recipients_campaign_state_contact_idx ON recipients (campaign_id, state, contact_id);
