-- 0130_verify_token_hash: webhook verify tokens are stored as their SHA-256, like API tokens,
-- not in clear: a database dump or backup no longer gives them away. The handshake compares
-- the hash of the token Meta sends.
UPDATE sender_numbers SET verify_token = 'sha256:' || encode(sha256(convert_to(verify_token, 'UTF8')), 'hex')
WHERE verify_token <> '' AND verify_token NOT LIKE 'sha256:%';
