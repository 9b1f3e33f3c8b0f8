-- 0041_webhook_limits: when Meta last reported the workspace's messaging limit, so a limit
-- webhook delivered late (Meta does not order webhooks) never overwrites a newer one.
ALTER TABLE workspaces ADD COLUMN messaging_limit_reported_at timestamptz;
