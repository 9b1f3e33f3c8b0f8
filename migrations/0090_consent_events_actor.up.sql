-- 0090_consent_events_actor: the foreign key consent_events.actor_user_id → users is replaced
-- by a delete trigger, as 0060 did for the other two keys of the import's write path.
--
-- Every consent event inserted with an actor ran an RI trigger that locked the user's row
-- (SELECT … FOR KEY SHARE); an import run from the API writes one opt_in event per consenting
-- row, all with the same actor. Measured on a bare COPY of 500,000 opt_in events (the consent
-- events of a million-row import, BenchmarkImportCopyFloor): 5.6 s of backend CPU with the key,
-- 2.6 s without. Even with no actor (the CLI), each row queued a trigger event that re-read the
-- row at the end of the statement.
--
-- What the key did on delete is kept: deleting a user clears it from the events it acted on
-- (the history stays). The insert-time check is given up; the actor is always the
-- authenticated user or the job's own imports.created_by.
ALTER TABLE consent_events DROP CONSTRAINT IF EXISTS consent_events_actor_user_id_fkey;

CREATE FUNCTION pregon_users_consent_events_actor_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE consent_events e SET actor_user_id = NULL FROM old_rows o WHERE e.actor_user_id = o.id;
    RETURN NULL;
END $$;
CREATE TRIGGER users_consent_events_actor_del AFTER DELETE ON users
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION pregon_users_consent_events_actor_del();
