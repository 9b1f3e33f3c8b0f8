-- 0010_imports: the contact importer's bulk path (importers.Run).
--
-- Two foreign keys are dropped because their per-row checks (one RI trigger call per inserted
-- row) cost about a quarter of a million-row import's merge, measured with EXPLAIN ANALYZE, and
-- they protect nothing we rely on:
--   * contacts.import_id only records which import created the contact (segments filter on it).
--     Imports are never deleted on their own; deleting a workspace deletes its contacts too.
--   * consent_events.workspace_id repeats what contact_id already ties it to; the contact's
--     foreign key (ON DELETE CASCADE) still removes the events with the contact or workspace.
ALTER TABLE contacts DROP CONSTRAINT IF EXISTS contacts_import_id_fkey;
ALTER TABLE consent_events DROP CONSTRAINT IF EXISTS consent_events_workspace_id_fkey;
