-- 0001_core: the shared data model of Pregón. Every workspace-owned table carries
-- workspace_id and every query filters on it. Later migrations add to this file's tables;
-- they never redefine them.

CREATE TABLE workspaces (
    id               bigserial PRIMARY KEY,
    name             text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    time_zone        text        NOT NULL DEFAULT 'America/Bogota',
    default_country  text        NOT NULL DEFAULT 'CO' CHECK (default_country ~ '^[A-Z]{2}$'),
    locale           text        NOT NULL DEFAULT 'es',
    -- unique recipients outside an open service window per rolling 24 h, shared by all numbers;
    -- -1 = unlimited (Meta: 250 / 2,000 / 10,000 / 100,000 / unlimited).
    messaging_limit  integer     NOT NULL DEFAULT 250,
    -- quiet hours, frequency cap, auto-pause thresholds, opt-out keywords (see store.WorkspaceSettings)
    settings         jsonb       NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id             bigserial PRIMARY KEY,
    email          text        NOT NULL,
    name           text        NOT NULL DEFAULT '',
    password_hash  text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_login_at  timestamptz
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE memberships (
    workspace_id  bigint      NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id       bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role          text        NOT NULL CHECK (role IN ('owner', 'marketer', 'analyst')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id);

-- API tokens: only a SHA-256 of the random secret is stored; the secret is shown once.
CREATE TABLE api_tokens (
    id            bigserial PRIMARY KEY,
    workspace_id  bigint      NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name          text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('owner', 'marketer', 'analyst')),
    token_hash    bytea       NOT NULL UNIQUE,
    prefix        text        NOT NULL,
    created_by    bigint      REFERENCES users (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX api_tokens_workspace_idx ON api_tokens (workspace_id);

-- Browser sessions of the admin UI: the cookie carries a random id, the table its hash.
CREATE TABLE sessions (
    id_hash       bytea       PRIMARY KEY,
    user_id       bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    workspace_id  bigint      NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    csrf_token    text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

-- Sender numbers. Secrets are AES-GCM encrypted with the configured key (never returned by the API).
CREATE TABLE sender_numbers (
    id                       bigserial PRIMARY KEY,
    workspace_id             bigint      NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    phone_number_id          text        NOT NULL UNIQUE,
    waba_id                  text        NOT NULL,
    display_number           text        NOT NULL DEFAULT '',
    verified_name            text        NOT NULL DEFAULT '',
    access_token_enc         bytea,
    app_secret_enc           bytea,
    verify_token             text        NOT NULL DEFAULT '',
    use_simulator            boolean     NOT NULL DEFAULT false,
    coexistence              boolean     NOT NULL DEFAULT false,
    throughput_mps           integer     NOT NULL DEFAULT 80,   -- what Meta allows (80 / 1000 / 20)
    throughput_cap           integer,                            -- a lower cap set by the owner
    quality_rating           text        NOT NULL DEFAULT 'UNKNOWN',
    messaging_limit_tier     text        NOT NULL DEFAULT '',
    is_on_biz_app            boolean     NOT NULL DEFAULT false,
    platform_type            text        NOT NULL DEFAULT '',
    status                   text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'halted', 'disconnected')),
    status_reason            text        NOT NULL DEFAULT '',
    last_phone_activity_at   timestamptz,
    last_checked_at          timestamptz,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sender_numbers_workspace_idx ON sender_numbers (workspace_id);
CREATE INDEX sender_numbers_waba_idx ON sender_numbers (waba_id);

-- Number health history: quality, limits, throughput, phone-app activity, disconnections.
CREATE TABLE number_events (
    id                bigserial PRIMARY KEY,
    workspace_id      bigint      NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    sender_number_id  bigint      NOT NULL REFERENCES sender_numbers (id) ON DELETE CASCADE,
    kind              text        NOT NULL,  -- quality | limit | throughput | account | phone_activity | check
    old_value         text        NOT NULL DEFAULT '',
    new_value         text        NOT NULL DEFAULT '',
    detail            jsonb       NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX number_events_number_idx ON number_events (sender_number_id, created_at);

CREATE TABLE imports (
    id             bigserial PRIMARY KEY,
    workspace_id   bigint      NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    created_by     bigint      REFERENCES users (id) ON DELETE SET NULL,
    filename       text        NOT NULL,
    format         text        NOT NULL,  -- xlsx | csv
    file_sha256    text        NOT NULL,
    file_size      bigint      NOT NULL,
    file_path      text        NOT NULL DEFAULT '',   -- kept in the data folder until the job ends
    sheet          text        NOT NULL DEFAULT '',
    header_row     integer     NOT NULL DEFAULT 0,
    encoding       text        NOT NULL DEFAULT '',
    separator      text        NOT NULL DEFAULT '',
    mapping        jsonb       NOT NULL DEFAULT '{}',
    mode           text        NOT NULL DEFAULT 'update' CHECK (mode IN ('add', 'update', 'merge_tags')),
    consent        jsonb       NOT NULL DEFAULT '{}',  -- consent declared for the whole file, if any
    status         text        NOT NULL DEFAULT 'uploaded'
                   CHECK (status IN ('uploaded', 'queued', 'running', 'completed', 'failed', 'cancelled')),
    rows_total     bigint      NOT NULL DEFAULT 0,
    rows_read      bigint      NOT NULL DEFAULT 0,
    inserted       bigint      NOT NULL DEFAULT 0,
    updated        bigint      NOT NULL DEFAULT 0,
    unchanged      bigint      NOT NULL DEFAULT 0,
    rejected       bigint      NOT NULL DEFAULT 0,
    duplicates     bigint      NOT NULL DEFAULT 0,
    without_consent bigint     NOT NULL DEFAULT 0,
    error          text        NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    finished_at    timestamptz
);
CREATE INDEX imports_workspace_idx ON imports (workspace_id, id DESC);

CREATE TABLE import_errors (
    import_id    bigint  NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    row_number   integer NOT NULL,
    column_name  text    NOT NULL DEFAULT '',
    value        text    NOT NULL DEFAULT '',
    reason       text    NOT NULL,
    raw          text[]  NOT NULL DEFAULT '{}',
    PRIMARY KEY (import_id, row_number, column_name)
);

CREATE TABLE contacts (
    id                     bigserial PRIMARY KEY,
    workspace_id           bigint      NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    phone_e164             text        NOT NULL,           -- '+573001234567'; 'erased:<id>' after erasure
    wa_id                  text,                           -- as Meta returns it (521…, 549…, BR 8-digit)
    phone_valid            boolean     NOT NULL DEFAULT true,
    country                text        NOT NULL DEFAULT '',  -- ISO region from the number
    name                   text        NOT NULL DEFAULT '',
    email                  text        NOT NULL DEFAULT '',
    language               text        NOT NULL DEFAULT '',
    tags                   text[]      NOT NULL DEFAULT '{}',
    attributes             jsonb       NOT NULL DEFAULT '{}',  -- typed values: text, number, bool, date as 'YYYY-MM-DD'
    -- consent (documented opt-in); NULL consent_at = not marketable
    consent_at             timestamptz,
    consent_source         text        NOT NULL DEFAULT '',
    consent_text           text        NOT NULL DEFAULT '',
    consent_evidence       jsonb       NOT NULL DEFAULT '{}',  -- {import_id, file_sha256, row} | {message_id} | {form}
    opted_out_at           timestamptz,
    opt_out_source         text        NOT NULL DEFAULT '',  -- keyword | button | user_preferences | 131050 | manual
    opt_out_reason         text        NOT NULL DEFAULT '',
    marketing_stopped      boolean     NOT NULL DEFAULT false,  -- WhatsApp's own stop (user_preferences / 131050)
    marketing_stopped_at   timestamptz,
    undeliverable_count    integer     NOT NULL DEFAULT 0,      -- 131026 occurrences
    cooled_until           timestamptz,                          -- 131049 cool-down
    last_inbound_at        timestamptz,                          -- opens the 24 h service window
    import_id              bigint      REFERENCES imports (id) ON DELETE SET NULL,
    erased_at              timestamptz,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, phone_e164)
);
CREATE INDEX contacts_wa_id_idx ON contacts (workspace_id, wa_id) WHERE wa_id IS NOT NULL;
CREATE INDEX contacts_tags_idx ON contacts USING gin (tags);
CREATE INDEX contacts_attributes_idx ON contacts USING gin (attributes jsonb_path_ops);
CREATE INDEX contacts_workspace_id_idx ON contacts (workspace_id, id);
-- The eligibility filter every audience carries (consent, not opted out, not stopped, valid).
CREATE INDEX contacts_marketable_idx ON contacts (workspace_id, id)
    WHERE consent_at IS NOT NULL AND opted_out_at IS NULL AND NOT marketing_stopped AND phone_valid AND erased_at IS NULL;

-- Consent history: every opt-in, opt-out, marketing stop/resume with who/what did it.
CREATE TABLE consent_events (
    id            bigserial PRIMARY KEY,
    workspace_id  bigint      NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    contact_id    bigint      NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    kind          text        NOT NULL CHECK (kind IN ('opt_in', 'opt_out', 'marketing_stop', 'marketing_resume', 'undeliverable')),
    source        text        NOT NULL DEFAULT '',
    reason        text        NOT NULL DEFAULT '',
    consent_text  text        NOT NULL DEFAULT '',
    evidence      jsonb       NOT NULL DEFAULT '{}',
    actor_user_id bigint      REFERENCES users (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX consent_events_contact_idx ON consent_events (contact_id, id);

CREATE TABLE segments (
    id            bigserial PRIMARY KEY,
    workspace_id  bigint      NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name          text        NOT NULL,
    description   text        NOT NULL DEFAULT '',
    definition    jsonb       NOT NULL,   -- segments.Definition; never SQL
    created_by    bigint      REFERENCES users (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX segments_workspace_idx ON segments (workspace_id, id);

CREATE TABLE templates (
    id                bigserial PRIMARY KEY,
    workspace_id      bigint      NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    waba_id           text        NOT NULL,
    meta_id           text        NOT NULL,
    name              text        NOT NULL,
    language          text        NOT NULL,
    category          text        NOT NULL DEFAULT '',
    status            text        NOT NULL DEFAULT '',
    quality           text        NOT NULL DEFAULT 'UNKNOWN',
    parameter_format  text        NOT NULL DEFAULT 'POSITIONAL',
    components        jsonb       NOT NULL DEFAULT '[]',
    status_reason     text        NOT NULL DEFAULT '',
    synced_at         timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, waba_id, name, language)
);
CREATE INDEX templates_meta_idx ON templates (meta_id);

CREATE TABLE template_events (
    id            bigserial PRIMARY KEY,
    workspace_id  bigint      NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    template_id   bigint      NOT NULL REFERENCES templates (id) ON DELETE CASCADE,
    kind          text        NOT NULL CHECK (kind IN ('status', 'quality', 'category')),
    old_value     text        NOT NULL DEFAULT '',
    new_value     text        NOT NULL DEFAULT '',
    reason        text        NOT NULL DEFAULT '',
    source        text        NOT NULL DEFAULT '',  -- sync | webhook
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX template_events_template_idx ON template_events (template_id, id);

CREATE TABLE campaigns (
    id                  bigserial PRIMARY KEY,
    workspace_id        bigint      NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name                text        NOT NULL,
    sender_number_id    bigint      REFERENCES sender_numbers (id),
    template_id         bigint      REFERENCES templates (id),
    variable_mapping    jsonb       NOT NULL DEFAULT '{}',
    segment_id          bigint      REFERENCES segments (id),
    confirm_broadcast   boolean     NOT NULL DEFAULT false,
    state               text        NOT NULL DEFAULT 'draft'
                        CHECK (state IN ('draft', 'scheduled', 'running', 'paused', 'completed', 'cancelled')),
    scheduled_at        timestamptz,
    send_window         jsonb       NOT NULL DEFAULT '{}',   -- {"start":"08:00","end":"20:00","weekdays":[1,2,3,4,5]}
    frequency_cap       integer,                             -- max marketing messages per contact per N days
    frequency_cap_days  integer,
    segment_definition  jsonb,                               -- frozen at launch
    segment_hash        text        NOT NULL DEFAULT '',
    audience_count      bigint      NOT NULL DEFAULT 0,
    pause_reason        text        NOT NULL DEFAULT '',
    wait_reason         text        NOT NULL DEFAULT '',     -- e.g. waiting for messaging limit, resumes ~14:05
    launched_at         timestamptz,
    completed_at        timestamptz,
    cancelled_at        timestamptz,
    created_by          bigint      REFERENCES users (id) ON DELETE SET NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX campaigns_workspace_idx ON campaigns (workspace_id, id DESC);
CREATE INDEX campaigns_running_idx ON campaigns (sender_number_id) WHERE state = 'running';

CREATE TABLE campaign_transitions (
    id             bigserial PRIMARY KEY,
    workspace_id   bigint      NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    campaign_id    bigint      NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    from_state     text        NOT NULL,
    to_state       text        NOT NULL,
    actor          text        NOT NULL CHECK (actor IN ('user', 'rule', 'system')),
    actor_user_id  bigint      REFERENCES users (id) ON DELETE SET NULL,
    reason         text        NOT NULL DEFAULT '',
    signal         text        NOT NULL DEFAULT '',   -- e.g. template_quality, error_code, circuit_breaker
    value          text        NOT NULL DEFAULT '',   -- e.g. RED, 132015, 0.34
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX campaign_transitions_campaign_idx ON campaign_transitions (campaign_id, id);

-- The audience frozen at launch. state moves forward only:
-- pending → queued → sending → (sent → delivered → read) | failed | skipped | unknown.
CREATE TABLE recipients (
    id                bigserial PRIMARY KEY,
    workspace_id      bigint      NOT NULL,
    campaign_id       bigint      NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    contact_id        bigint      NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    phone_e164        text        NOT NULL,
    variables         jsonb       NOT NULL DEFAULT '{}',
    state             text        NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'queued', 'sending', 'unknown', 'sent', 'delivered', 'read', 'failed', 'skipped')),
    skip_reason       text        NOT NULL DEFAULT '',
    wamid             text,
    wa_id             text,
    error_code        integer,
    error_title       text        NOT NULL DEFAULT '',
    attempts          integer     NOT NULL DEFAULT 0,
    retry_at          timestamptz,
    queued_at         timestamptz,
    sending_at        timestamptz,
    sent_at           timestamptz,
    delivered_at      timestamptz,
    read_at           timestamptz,
    failed_at         timestamptz,
    replied_at        timestamptz,
    opted_out_at      timestamptz,
    pricing_category  text        NOT NULL DEFAULT '',
    billable          boolean,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (campaign_id, contact_id)
);
CREATE INDEX recipients_campaign_state_idx ON recipients (campaign_id, state, id);
CREATE UNIQUE INDEX recipients_wamid_idx ON recipients (wamid) WHERE wamid IS NOT NULL;
CREATE INDEX recipients_contact_idx ON recipients (contact_id, campaign_id);

-- Every delivery status as received: append-only, the source of reproducible reports.
CREATE TABLE status_events (
    id                bigserial PRIMARY KEY,
    workspace_id      bigint,
    wamid             text        NOT NULL,
    status            text        NOT NULL,
    occurred_at       timestamptz NOT NULL,
    recipient_wa_id   text        NOT NULL DEFAULT '',
    error_code        integer,
    error_title       text        NOT NULL DEFAULT '',
    error_details     text        NOT NULL DEFAULT '',
    pricing_category  text        NOT NULL DEFAULT '',
    pricing_type      text        NOT NULL DEFAULT '',
    billable          boolean,
    callback_data     text        NOT NULL DEFAULT '',
    inbox_id          bigint,
    raw               jsonb       NOT NULL DEFAULT '{}',
    received_at       timestamptz NOT NULL DEFAULT now(),
    applied_at        timestamptz,    -- NULL while the wamid is not known yet (race with the send commit)
    UNIQUE (wamid, status)           -- duplicates count once
);
CREATE INDEX status_events_unapplied_idx ON status_events (wamid) WHERE applied_at IS NULL;

-- Inbound messages, phone-app echoes and synced history: the per-contact timeline.
CREATE TABLE messages (
    id                bigserial PRIMARY KEY,
    workspace_id      bigint      NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    sender_number_id  bigint      REFERENCES sender_numbers (id) ON DELETE SET NULL,
    contact_id        bigint      REFERENCES contacts (id) ON DELETE CASCADE,
    direction         text        NOT NULL CHECK (direction IN ('inbound', 'echo', 'history', 'outbound')),
    wamid             text        NOT NULL,
    type              text        NOT NULL DEFAULT '',
    body              text        NOT NULL DEFAULT '',
    payload           text        NOT NULL DEFAULT '',
    context_wamid     text        NOT NULL DEFAULT '',
    campaign_id       bigint      REFERENCES campaigns (id) ON DELETE SET NULL,
    occurred_at       timestamptz NOT NULL,
    raw               jsonb       NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, wamid, direction)
);
CREATE INDEX messages_contact_idx ON messages (contact_id, occurred_at);

-- Raw webhook bodies, stored before we answer 200.
CREATE TABLE webhook_inbox (
    id                bigserial PRIMARY KEY,
    workspace_id      bigint,
    sender_number_id  bigint,
    received_at       timestamptz NOT NULL DEFAULT now(),
    body              bytea       NOT NULL,
    status            text        NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'processed', 'unparseable', 'unroutable')),
    error             text        NOT NULL DEFAULT '',
    processed_at      timestamptz
);
CREATE INDEX webhook_inbox_pending_idx ON webhook_inbox (id) WHERE status = 'pending';
