-- 0035_pacing: global pacing state (per sender number), the workspace's rolling 24 h
-- unique-recipient ledger, send slots on recipients, and cheap sharded live counters.

-- One row per sender number: the pacer's clock. Slots are handed out in increasing order from
-- next_slot_at, one every 1/(mps × rate_factor) seconds, by whichever process runs the number's
-- pace job; the row lock serialises ticks, so the throughput holds whatever the process count.
CREATE TABLE number_pacing (
    sender_number_id  bigint      PRIMARY KEY REFERENCES sender_numbers (id) ON DELETE CASCADE,
    workspace_id      bigint      NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    next_slot_at      timestamptz NOT NULL DEFAULT '1970-01-01 00:00:00+00',
    -- 130429 back-off: the rate is multiplied by rate_factor (halved on a throttle, at most once
    -- a second; recovers by 10 % a tick once backoff_until has passed).
    rate_factor       double precision NOT NULL DEFAULT 1 CHECK (rate_factor > 0 AND rate_factor <= 1),
    backoff_until     timestamptz,
    throttled_at      timestamptz,
    throttles         bigint      NOT NULL DEFAULT 0,
    last_tick_at      timestamptz,
    released          bigint      NOT NULL DEFAULT 0,   -- recipients released so far (all time)
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- The workspace's messaging-limit ledger: one row each time a contact starts counting against
-- the rolling 24 h unique-recipient budget. A contact already counted in the last 24 h (or whose
-- customer-service window is open) is released without a new row, so the number of rows with
-- counted_at in (now - 24 h, now] is exactly the number of unique recipients in the window.
CREATE TABLE messaging_ledger (
    id            bigserial   PRIMARY KEY,
    workspace_id  bigint      NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    contact_id    bigint      NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    campaign_id   bigint      REFERENCES campaigns (id) ON DELETE SET NULL,
    counted_at    timestamptz NOT NULL
);
CREATE INDEX messaging_ledger_window_idx ON messaging_ledger (workspace_id, counted_at);
CREATE INDEX messaging_ledger_contact_idx ON messaging_ledger (workspace_id, contact_id, counted_at);

-- The send slot a queued recipient was released for; its send job carries the same value, so a
-- stale job (the recipient was re-released meanwhile) recognises it is no longer the owner.
ALTER TABLE recipients ADD COLUMN send_slot timestamptz;
-- When the recipient reached an outcome (sent or failed by the send job): the circuit breaker
-- reads the last N outcomes of a campaign through the partial index below.
ALTER TABLE recipients ADD COLUMN outcome_at timestamptz;
CREATE INDEX recipients_outcome_idx ON recipients (campaign_id, outcome_at DESC) WHERE outcome_at IS NOT NULL;

-- Live counters: recipients per (campaign, state), split in 16 shards (recipient id % 16) so
-- concurrent sends rarely update the same row. Read with a SUM; maintained by statement-level
-- triggers with transition tables, so a 1M-row launch INSERT costs one grouped upsert, not 1M.
CREATE TABLE campaign_counters (
    campaign_id  bigint  NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    state        text    NOT NULL,
    shard        smallint NOT NULL,
    n            bigint  NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, state, shard)
);

-- Rows are upserted in (campaign, state, shard) order so that two statements never lock
-- counter rows in opposite orders (no deadlocks between the pacer and the send jobs).
CREATE FUNCTION pregon_counters_ins() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO campaign_counters AS cc (campaign_id, state, shard, n)
    SELECT campaign_id, state, (id % 16)::smallint, count(*) FROM new_rows
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (campaign_id, state, shard) DO UPDATE SET n = cc.n + excluded.n;
    RETURN NULL;
END $$;

CREATE FUNCTION pregon_counters_upd() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO campaign_counters AS cc (campaign_id, state, shard, n)
    SELECT campaign_id, state, shard, sum(d) FROM (
        SELECT o.campaign_id, o.state, (o.id % 16)::smallint AS shard, -1 AS d
        FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE n.state IS DISTINCT FROM o.state OR n.campaign_id <> o.campaign_id
        UNION ALL
        SELECT n.campaign_id, n.state, (n.id % 16)::smallint, 1
        FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE n.state IS DISTINCT FROM o.state OR n.campaign_id <> o.campaign_id
    ) d
    GROUP BY 1, 2, 3 HAVING sum(d) <> 0 ORDER BY 1, 2, 3
    ON CONFLICT (campaign_id, state, shard) DO UPDATE SET n = cc.n + excluded.n;
    RETURN NULL;
END $$;

CREATE FUNCTION pregon_counters_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE campaign_counters cc SET n = cc.n - d.cnt
    FROM (SELECT campaign_id, state, (id % 16)::smallint AS shard, count(*) AS cnt
          FROM old_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3) d
    WHERE cc.campaign_id = d.campaign_id AND cc.state = d.state AND cc.shard = d.shard;
    RETURN NULL;
END $$;

CREATE TRIGGER recipients_counters_ins AFTER INSERT ON recipients
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION pregon_counters_ins();
CREATE TRIGGER recipients_counters_upd AFTER UPDATE ON recipients
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION pregon_counters_upd();
CREATE TRIGGER recipients_counters_del AFTER DELETE ON recipients
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION pregon_counters_del();
