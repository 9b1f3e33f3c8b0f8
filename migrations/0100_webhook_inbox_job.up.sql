-- 0100: each stored webhook body names the River job enqueued with it (in the same
-- transaction). A batch that processes bodies of other jobs deletes those jobs in its own
-- transaction, so under load a job runs per batch of bodies rather than per endpoint commit
-- (River fetched ~150 mostly empty jobs a second and processing fell behind at 6,000
-- events/s). A job finds its own bodies through the partial index.
ALTER TABLE webhook_inbox ADD COLUMN job_id bigint;
CREATE INDEX webhook_inbox_pending_job_idx ON webhook_inbox (job_id) WHERE status = 'pending';
