-- 0140_erasure_scrubs: erasing a contact also blanks Meta's raw webhook bodies that name them.
--
-- The bodies are kept 30 days for audits and replays; one that names an erased person (their
-- phone or WhatsApp id) is replaced, whole, by a note, in batches by a job. This row carries
-- what to look for until the job is done, and is deleted with its last batch: the erased
-- phone is not kept anywhere once the scrub ends.
CREATE TABLE erasure_scrubs (
    id             bigserial   PRIMARY KEY,
    workspace_id   bigint      NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    contact_id     bigint      NOT NULL,
    needles        text[]      NOT NULL,  -- digits of the phone and of the WhatsApp id
    upto_inbox_id  bigint      NOT NULL,  -- the newest body when the contact was erased
    next_inbox_id  bigint      NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now()
);
