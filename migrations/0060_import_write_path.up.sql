-- 0060_import_write_path: the contact importer copies new contacts straight into contacts and
-- their opt_in events into consent_events (importers/direct.go). Two foreign keys cost more
-- than everything else of that write path together, measured on a million-row import: each
-- inserted row runs an RI trigger that locks the referenced row (SELECT … FOR KEY SHARE), which
-- for consent_events means dirtying and WAL-logging the contact just inserted, row after row.
--
-- What they protect is kept where it matters: the cascades. Deleting a workspace still deletes
-- its contacts, and deleting contacts still deletes their consent events, through the triggers
-- below. What is given up is the insert-time check, which every writer already satisfies: the
-- workspace id always comes from the authenticated principal or the job's own row, and consent
-- events are written for contacts the same statement or transaction just read or wrote.
ALTER TABLE contacts DROP CONSTRAINT IF EXISTS contacts_workspace_id_fkey;
ALTER TABLE consent_events DROP CONSTRAINT IF EXISTS consent_events_contact_id_fkey;

CREATE FUNCTION pregon_workspace_contacts_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM contacts WHERE workspace_id = OLD.id;
    RETURN NULL;
END $$;
CREATE TRIGGER workspaces_contacts_del AFTER DELETE ON workspaces
    FOR EACH ROW EXECUTE FUNCTION pregon_workspace_contacts_del();

CREATE FUNCTION pregon_contacts_consent_events_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM consent_events e USING old_rows o WHERE e.contact_id = o.id;
    RETURN NULL;
END $$;
CREATE TRIGGER contacts_consent_events_del AFTER DELETE ON contacts
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION pregon_contacts_consent_events_del();
