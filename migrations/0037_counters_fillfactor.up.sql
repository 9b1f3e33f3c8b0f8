-- 0037: campaign_counters rows are updated by every send (two state changes each); at 1,000
-- sends/s a handful of rows on one heap page made that page the hottest lock in the database.
-- A low fillfactor spreads a campaign's rows over several pages and leaves room for HOT updates.
ALTER TABLE campaign_counters SET (fillfactor = 10);

-- Deleting a campaign (or its workspace) cascades to its recipients and its counters; the
-- recipients' DELETE trigger must not touch counter rows of a campaign that is going away.
CREATE OR REPLACE FUNCTION pregon_counters_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE campaign_counters cc SET n = cc.n - d.cnt
    FROM (SELECT campaign_id, state, (id % 16)::smallint AS shard, count(*) AS cnt
          FROM old_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3) d
    WHERE cc.campaign_id = d.campaign_id AND cc.state = d.state AND cc.shard = d.shard
      AND EXISTS (SELECT 1 FROM campaigns c WHERE c.id = d.campaign_id);
    RETURN NULL;
END $$;
