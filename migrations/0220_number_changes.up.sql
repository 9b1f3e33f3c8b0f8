-- 0220_number_changes: WhatsApp's system messages that say a person changed number.
--
-- A "user_changed_number" system message moves the person's contact to the new number
-- (store.ContactNumberChanged). When the workspace already has a contact with the new number
-- the two are not merged: the old contact keeps its history, but its number is no longer the
-- person's and WhatsApp may give it to someone else, so it leaves every audience (phone_valid
-- false, which every eligibility check already reads) and number_changed_at says why.
ALTER TABLE contacts ADD COLUMN number_changed_at timestamptz;

-- The change is recorded in the consent history of the contacts concerned. The new list is a
-- superset of the old one: NOT VALID skips re-reading every existing event (new rows are
-- checked all the same).
ALTER TABLE consent_events DROP CONSTRAINT consent_events_kind_check;
ALTER TABLE consent_events ADD CONSTRAINT consent_events_kind_check
    CHECK (kind IN ('opt_in', 'opt_out', 'marketing_stop', 'marketing_resume', 'undeliverable', 'number_changed')) NOT VALID;
