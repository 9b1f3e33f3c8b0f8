-- 0150_ledger_phone_idx: a test send to a phone that is not (yet) a contact is counted under the
-- phone (0120); when a campaign reaches a contact with that phone, the pacer attaches the row to
-- the contact first, so the person counts once. The few such rows are found by this index.
CREATE INDEX messaging_ledger_phone_idx ON messaging_ledger (workspace_id, phone_e164) WHERE contact_id IS NULL;
