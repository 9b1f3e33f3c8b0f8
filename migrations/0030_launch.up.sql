-- 0030_launch: the campaign launch's bulk path (jobs.LaunchCampaign).
--
-- The launch freezes an audience with one INSERT … SELECT into recipients. Its two per-row
-- foreign-key checks cost about 40 % of that statement, measured with EXPLAIN ANALYZE on 200,000
-- recipients (Trigger for constraint recipients_campaign_id_fkey / _contact_id_fkey): each one is
-- a query per row, and the contact check locks every contact FOR KEY SHARE (a dirtied page and a
-- WAL record per contact). Neither protects anything the launch does not already guarantee: the
-- contacts are selected by the same statement, the campaign is locked FOR UPDATE.
--
-- What the constraints did on delete is kept: statement-level triggers remove the recipients of
-- deleted campaigns and contacts (a workspace's deletion cascades to both), one set-based DELETE
-- per statement instead of a check per inserted row.
ALTER TABLE recipients DROP CONSTRAINT IF EXISTS recipients_campaign_id_fkey;
ALTER TABLE recipients DROP CONSTRAINT IF EXISTS recipients_contact_id_fkey;

CREATE FUNCTION pregon_recipients_of_campaigns_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM recipients r USING old_rows o WHERE r.campaign_id = o.id;
    RETURN NULL;
END $$;

CREATE FUNCTION pregon_recipients_of_contacts_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM recipients r USING old_rows o WHERE r.contact_id = o.id;
    RETURN NULL;
END $$;

CREATE TRIGGER campaigns_recipients_del AFTER DELETE ON campaigns
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION pregon_recipients_of_campaigns_del();
CREATE TRIGGER contacts_recipients_del AFTER DELETE ON contacts
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION pregon_recipients_of_contacts_del();
