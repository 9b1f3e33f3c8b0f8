-- 0170_erased_contacts_idx: finding the contacts erased within the webhook inbox's retention.
--
-- A status webhook that arrives after a contact's erasure (a late "delivered" or "read" of a
-- message sent before it) names their WhatsApp id; the status sweep blanks what it kept
-- (store.StatusEventsScrubErased) and looks for such contacts every minute. Erased contacts are
-- few, and the index holds only them: an import's rows never enter it.
CREATE INDEX contacts_erased_idx ON contacts (erased_at) WHERE erased_at IS NOT NULL;
