-- 0036: the UPDATE counter trigger without a join of its transition tables. Transition tables
-- have no index or statistics, so 0035's old_rows ⋈ new_rows became a quadratic nested loop on
-- the pacer's 2,000-row updates (seconds). Subtracting every old row and adding every new one
-- gives the same deltas: rows whose state did not change cancel out in the SUM.
CREATE OR REPLACE FUNCTION pregon_counters_upd() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO campaign_counters AS cc (campaign_id, state, shard, n)
    SELECT campaign_id, state, shard, sum(d) FROM (
        SELECT campaign_id, state, (id % 16)::smallint AS shard, -1 AS d FROM old_rows
        UNION ALL
        SELECT campaign_id, state, (id % 16)::smallint, 1 FROM new_rows
    ) d
    GROUP BY 1, 2, 3 HAVING sum(d) <> 0 ORDER BY 1, 2, 3
    ON CONFLICT (campaign_id, state, shard) DO UPDATE SET n = cc.n + excluded.n;
    RETURN NULL;
END $$;
