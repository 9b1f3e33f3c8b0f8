-- 0190_contacts_bsuid: contacts are keyed by phone AND by the person's business-scoped user id.
--
-- Since WhatsApp usernames (2026) an inbound message may carry no phone (`from`), only the
-- sender's BSUID (`from_user_id`, e.g. 'MX.1349120865530274'); contacts[] carry `user_id` and
-- status webhooks `recipient_user_id`. A contact learns its BSUID wherever Meta gives it together
-- with something that names the contact (the phone of an inbound message, the wamid of a status),
-- and a message with only the BSUID finds its contact by it. Erasure clears it like wa_id.
--
-- Not unique: a person who changes phone number keeps their BSUID, so the new phone's contact
-- takes it over (store.ContactsAttachBSUIDs clears it from the old one); an index that refused
-- the second holder would make the webhook fail instead.
ALTER TABLE contacts ADD COLUMN bsuid text;
CREATE INDEX contacts_bsuid_idx ON contacts (workspace_id, bsuid) WHERE bsuid IS NOT NULL;

-- An opt-out (keyword or button) from a user known only by BSUID that no contact has yet: it is
-- applied to the contact that learns the BSUID (and then deleted), never dropped. First one wins,
-- as on contacts.opted_out_at.
CREATE TABLE bsuid_optouts (
    workspace_id  bigint      NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    bsuid         text        NOT NULL,
    opted_out_at  timestamptz NOT NULL,
    source        text        NOT NULL,   -- keyword | button
    reason        text        NOT NULL DEFAULT '',
    evidence      jsonb       NOT NULL DEFAULT '{}',  -- message_wamid, inbox_id…
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, bsuid)
);
