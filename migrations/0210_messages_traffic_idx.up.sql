-- 0210_messages_traffic_idx: a number's own recent traffic, for the pacer.
--
-- Meta's throughput limit (20 msg/s on a coexistence number, 80 by default) counts every
-- message of the number: those people send it and those the owner sends from the WhatsApp
-- Business app (echoes) as well as the API's. The pacer reads how many of them the number had
-- in the last seconds (store.NumberRecentTraffic) at every tick and leaves them their share.
CREATE INDEX messages_number_traffic_idx ON messages (sender_number_id, occurred_at)
    WHERE direction IN ('inbound', 'echo');
