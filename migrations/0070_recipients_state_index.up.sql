-- 0070: one (campaign_id, state, …) index on recipients instead of two. 0001's
-- recipients_campaign_state_idx (campaign_id, state, id) and 0020's
-- recipients_campaign_state_contact_idx (campaign_id, state, contact_id) INCLUDE (workspace_id)
-- serve the same lookups (a campaign's recipients in some states); the pacer, the only reader
-- that wanted id order within a state, now takes pending recipients in contact_id order (the
-- launch inserts them in about that order anyway). A launch maintains one index fewer per
-- recipient: about a sixth of the snapshot INSERT's index work.
DROP INDEX IF EXISTS recipients_campaign_state_idx;
