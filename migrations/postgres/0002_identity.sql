-- Identities and access: users, groups, organizations and their members, robot accounts,
-- refresh tokens, token signing keys, audit events. Booleans are 0/1 integers (the same
-- column type on both dialects); timestamps are Unix milliseconds. Additive only.
CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL UNIQUE,
    email TEXT,
    -- argon2id PHC string; NULL for accounts that authenticate elsewhere (LDAP).
    password_hash TEXT,
    admin BIGINT NOT NULL DEFAULT 0,
    disabled BIGINT NOT NULL DEFAULT 0,
    -- Bumped on every password change and disable: refresh tokens and cached credential
    -- checks of an older epoch stop working.
    epoch BIGINT NOT NULL DEFAULT 0,
    source TEXT NOT NULL DEFAULT 'local',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE user_groups (
    id BIGSERIAL PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL UNIQUE,
    -- The directory group this one mirrors (LDAP/AD DN), if any.
    external_dn TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE group_members (
    group_id BIGINT NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

CREATE TABLE orgs (
    id BIGSERIAL PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL UNIQUE,
    public BIGINT NOT NULL DEFAULT 0,
    -- The user whose personal namespace this is, if any.
    owner TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- kind: 'user' or 'group'; member_id is users.id or user_groups.id.
CREATE TABLE org_members (
    org_id BIGINT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    member_id BIGINT NOT NULL,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, kind, member_id)
);
CREATE INDEX org_members_member ON org_members (kind, member_id);

CREATE TABLE robots (
    id BIGSERIAL PRIMARY KEY,
    org_id BIGINT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT,
    -- argon2id PHC string of the secret.
    secret_hash TEXT NOT NULL,
    -- JSON list of {repositories, actions}.
    rules TEXT NOT NULL,
    expires_at BIGINT,
    disabled BIGINT NOT NULL DEFAULT 0,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

-- Opaque refresh tokens, stored as SHA-256 of the token.
CREATE TABLE refresh_tokens (
    hash TEXT PRIMARY KEY,
    -- 'user' or 'robot', and users.id / robots.id.
    kind TEXT NOT NULL,
    subject_id BIGINT NOT NULL,
    epoch BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX refresh_tokens_subject ON refresh_tokens (kind, subject_id);

-- Token signing keys shared by every replica. The newest unretired key signs; every key
-- whose retirement is younger than the longest token lifetime still verifies.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    private_der TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);

CREATE TABLE audit_events (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    resource TEXT NOT NULL,
    org TEXT,
    source TEXT,
    outcome TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_org ON audit_events (org, at);

ALTER TABLE repositories ADD COLUMN description TEXT;
