-- 0120_ledger_test_sends: a campaign's test send counts against the messaging limit too.
--
-- Meta counts every business-initiated conversation with a new person in the rolling 24 h,
-- test sends included. A test may go to a phone that is no contact (the team's own), so a
-- ledger row may have no contact and name the phone instead; repeated tests to one phone in
-- the window count once, like a campaign's recipients.
ALTER TABLE messaging_ledger ALTER COLUMN contact_id DROP NOT NULL;
ALTER TABLE messaging_ledger ADD COLUMN phone_e164 text;
ALTER TABLE messaging_ledger ADD CONSTRAINT messaging_ledger_who CHECK (contact_id IS NOT NULL OR phone_e164 IS NOT NULL);
