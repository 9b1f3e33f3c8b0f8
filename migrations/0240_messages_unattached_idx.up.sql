-- 0240_messages_unattached_idx: messages from a username user no contact had yet.
--
-- A message from a user known only by a BSUID (no phone in the webhook) is stored without a
-- contact when no contact has the BSUID. Once one learns it (a status, a message with phone and
-- BSUID, a BSUID change), those messages join its timeline, and an erasure of the contact
-- reaches them (store.MessagesAttachByBSUID). The index holds only the messages without a
-- contact that name a BSUID: few.
CREATE INDEX messages_unattached_user_idx ON messages (workspace_id, (raw->>'from_user_id'))
    WHERE contact_id IS NULL AND raw ? 'from_user_id';
