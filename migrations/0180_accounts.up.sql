-- 0180_accounts: who may operate the installation, invitations to a workspace, the workspace a
-- person used last.
--
-- users.operator: the installation itself (pregon user create --operator, the demo seed) made
-- the account an operator. The River UI (every workspace's jobs) opens for an account only when
-- this flag is set AND its e-mail is in PREGON_ADMIN_EMAILS at the time: a workspace owner, who
-- can create accounts with any e-mail, never sets the flag, so adding an e-mail to
-- PREGON_ADMIN_EMAILS later grants nothing to an account a tenant made, and removing it takes
-- the rights away. Existing accounts start without it (their origin is unknown).
ALTER TABLE users ADD COLUMN operator boolean NOT NULL DEFAULT false;

-- The workspace the person used last (login, switch): the next login opens it, instead of the
-- first of their workspaces by name, a name any workspace's owner chooses.
ALTER TABLE users ADD COLUMN last_workspace_id bigint REFERENCES workspaces (id) ON DELETE SET NULL;

-- A membership of an account that already existed is an invitation until the person accepts it
-- (accepted_at NULL): it gives no access and the inviting workspace sees only the e-mail it
-- typed. last_login_at is the person's last login in this workspace: another workspace's
-- activity is not shown to its owner. Existing memberships count as accepted.
ALTER TABLE memberships ADD COLUMN accepted_at timestamptz DEFAULT now();
ALTER TABLE memberships ADD COLUMN last_login_at timestamptz;
UPDATE memberships SET accepted_at = created_at;
CREATE INDEX memberships_pending_idx ON memberships (user_id) WHERE accepted_at IS NULL;
