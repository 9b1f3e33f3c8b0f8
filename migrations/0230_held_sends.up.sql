-- 0230_held_sends: sends Meta holds while it assesses a paced template's quality.
--
-- A send of a template under pacing is answered "held_for_quality_assessment" instead of
-- "accepted" (WHATSAPP.md, Pacing). Meta then decides within about an hour: good feedback
-- releases the message (its sent/delivered statuses follow), bad feedback pauses the template
-- and drops it with a failed status, 132015. held_at is when the send job recorded such a
-- send; the first status of its wamid clears it (store.applyEventsSQL). Until then, for at most
-- store.HoldLimit, the pacer does not complete the campaign (store.CampaignWorkGet), so a drop
-- is still sent again.
ALTER TABLE recipients ADD COLUMN held_at timestamptz;

-- The pacer looks for a campaign's held sends whenever it has nothing else to send, and the
-- progress endpoints count them: few rows are ever held at once.
CREATE INDEX recipients_held_idx ON recipients (campaign_id, held_at) WHERE held_at IS NOT NULL;
