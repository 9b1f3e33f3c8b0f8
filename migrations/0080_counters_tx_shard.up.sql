-- 0080: a statement's counter deltas go to one shard, chosen by its transaction, instead of
-- being spread over all 16 by recipient id.
--
-- Sharding by id % 16 (0035) kept single-recipient updates apart, but sends now move recipients
-- in batches (the pacer queues ~1,000 a second, send jobs claim ~40 at a time, accepted sends are
-- recorded every 20 ms): every batch touched every shard of its states, so all those statements
-- queued behind one another on the same counter rows until each one committed, and a send
-- job's claim waited tens of milliseconds for them. Now a transaction adds its deltas to shard
-- (its xid % 16) only: concurrent statements rarely share a row, a launch's 1M-row insert
-- upserts one row per state, and a transaction's statements keep to one shard. Counts are read
-- as sums over the shards (a single shard may go negative), which stay exact.

CREATE OR REPLACE FUNCTION pregon_counter_shard() RETURNS smallint LANGUAGE sql VOLATILE AS $$
    SELECT (pg_current_xact_id()::text::bigint % 16)::smallint
$$;

CREATE OR REPLACE FUNCTION pregon_counters_ins() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO campaign_counters AS cc (campaign_id, state, shard, n)
    SELECT campaign_id, state, pregon_counter_shard(), count(*) FROM new_rows
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (campaign_id, state, shard) DO UPDATE SET n = cc.n + excluded.n;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION pregon_counters_upd() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO campaign_counters AS cc (campaign_id, state, shard, n)
    SELECT campaign_id, state, pregon_counter_shard(), sum(d) FROM (
        SELECT campaign_id, state, -1 AS d FROM old_rows
        UNION ALL
        SELECT campaign_id, state, 1 FROM new_rows
    ) d
    GROUP BY 1, 2 HAVING sum(d) <> 0 ORDER BY 1, 2
    ON CONFLICT (campaign_id, state, shard) DO UPDATE SET n = cc.n + excluded.n;
    RETURN NULL;
END $$;

-- Deleted recipients of a campaign that is itself going away (a cascade) touch no counter.
CREATE OR REPLACE FUNCTION pregon_counters_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO campaign_counters AS cc (campaign_id, state, shard, n)
    SELECT d.campaign_id, d.state, pregon_counter_shard(), -d.cnt
    FROM (SELECT campaign_id, state, count(*) AS cnt FROM old_rows GROUP BY 1, 2 ORDER BY 1, 2) d
    WHERE EXISTS (SELECT 1 FROM campaigns c WHERE c.id = d.campaign_id)
    ORDER BY 1, 2
    ON CONFLICT (campaign_id, state, shard) DO UPDATE SET n = cc.n + excluded.n;
    RETURN NULL;
END $$;
