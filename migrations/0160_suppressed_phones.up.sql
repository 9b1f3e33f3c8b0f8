-- 0160_suppressed_phones: an opt-out outlives the erasure of the contact's personal data.
--
-- A person who opted out (or whom WhatsApp stopped) and then asked for their data to be erased
-- must not come back as marketable through the next import of an old list. The erasure blanks
-- the phone, so it leaves this instead: a keyed hash of the phone (HMAC-SHA256 under the
-- installation's secret key, which is not in the database), enough to recognise the number and
-- refuse it, not to recover it.
CREATE TABLE suppressed_phones (
    workspace_id  bigint      NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    phone_hash    bytea       NOT NULL,
    opted_out_at  timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, phone_hash)
);
