-- 0050_reports: job-based exports (with progress and a file), the campaign report cache, and
-- the indexes the reports and exports read through.

-- An export run as a River job (large exports; small ones stream directly and leave no row).
-- params holds the export's inputs (campaign_id, template_id, from, to, attributes), so the same
-- export can be re-run and gives the same bytes (as_of is frozen here).
CREATE TABLE exports (
    id            bigserial PRIMARY KEY,
    workspace_id  bigint      NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    kind          text        NOT NULL CHECK (kind IN ('campaign', 'template', 'contacts')),
    format        text        NOT NULL CHECK (format IN ('csv', 'xlsx')),
    params        jsonb       NOT NULL DEFAULT '{}',
    as_of         timestamptz NOT NULL,
    status        text        NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'running', 'completed', 'failed')),
    rows_total    bigint      NOT NULL DEFAULT 0,
    rows_written  bigint      NOT NULL DEFAULT 0,
    file_name     text        NOT NULL DEFAULT '',   -- suggested download name
    file_path     text        NOT NULL DEFAULT '',   -- under PREGON_DATA_DIR/exports/<workspace_id>/
    file_size     bigint      NOT NULL DEFAULT 0,
    file_sha256   text        NOT NULL DEFAULT '',
    error         text        NOT NULL DEFAULT '',
    created_by    bigint      REFERENCES users (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz
);
CREATE INDEX exports_workspace_idx ON exports (workspace_id, id DESC);

-- The last computed campaign report. A report over a 1M-recipient campaign takes seconds to
-- aggregate; the endpoint serves this row (≈1 ms) and recomputes in the background when the
-- workspace has new status events or messages (fingerprint) and the row is older than a few seconds.
CREATE TABLE campaign_report_cache (
    campaign_id    bigint      PRIMARY KEY REFERENCES campaigns (id) ON DELETE CASCADE,
    workspace_id   bigint      NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    fingerprint    text        NOT NULL,
    computed_at    timestamptz NOT NULL,
    compute_ms     integer     NOT NULL DEFAULT 0,
    body           jsonb       NOT NULL
);

-- Exports read a campaign's recipients in id order (merge instead of a 1M-row sort).
CREATE INDEX recipients_campaign_id_idx ON recipients (campaign_id, id);
-- The report cache fingerprint: the newest status event and message of a workspace.
CREATE INDEX status_events_workspace_id_idx ON status_events (workspace_id, id);
CREATE INDEX messages_workspace_id_idx ON messages (workspace_id, id);
-- Template reports and exports find a template's campaigns.
CREATE INDEX campaigns_template_idx ON campaigns (workspace_id, template_id);
-- Sender number report: sends of a workspace in the last 24 h / 7 days.
CREATE INDEX recipients_workspace_sent_idx ON recipients (workspace_id, sent_at) WHERE sent_at IS NOT NULL;
-- Template events history, newest first.
CREATE INDEX template_events_workspace_idx ON template_events (workspace_id, template_id, created_at);
