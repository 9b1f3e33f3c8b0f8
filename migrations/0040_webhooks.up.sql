-- 0040_webhooks: helpers for order-independent delivery statuses, and phone-app health.

-- A delivery status's rank. Recipient state is the maximum rank seen, so applying statuses in
-- any order (and any number of times) gives the same result: the states form a lattice.
-- sending/unknown < sent < delivered < read (played counts as read) < failed (terminal).
CREATE FUNCTION pregon_status_rank(s text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE s
        WHEN 'sent' THEN 1
        WHEN 'delivered' THEN 2
        WHEN 'read' THEN 3
        WHEN 'played' THEN 3
        WHEN 'failed' THEN 4
        ELSE 0
    END
$$;

-- The recipient state of a rank (0 has none: it never replaces a state).
CREATE FUNCTION pregon_rank_state(r integer) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE r WHEN 1 THEN 'sent' WHEN 2 THEN 'delivered' WHEN 3 THEN 'read' WHEN 4 THEN 'failed' END
$$;

-- When the phone-app silence warning was last raised (cleared when the app shows activity).
ALTER TABLE sender_numbers ADD COLUMN phone_app_warned_at timestamptz;

-- Reply attribution and the timeline look messages up by the campaign message they answer.
CREATE INDEX messages_context_idx ON messages (context_wamid) WHERE context_wamid <> '';

-- The sweeper finds unsettled events whose callback data names a recipient.
CREATE INDEX status_events_unapplied_received_idx ON status_events (received_at) WHERE applied_at IS NULL;
