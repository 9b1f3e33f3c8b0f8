-- Template and number webhooks may arrive (and be processed) out of order: Meta retries, and
-- several process_webhook jobs run at once. Each kind of state (status, quality, category;
-- number quality, limit, throughput, account) keeps the event time of the value it holds, and
-- an older event never overwrites a newer one. A sync from the API is the truth at its time.
ALTER TABLE templates ADD COLUMN state_changed_at jsonb NOT NULL DEFAULT '{}';
ALTER TABLE sender_numbers ADD COLUMN state_changed_at jsonb NOT NULL DEFAULT '{}';
