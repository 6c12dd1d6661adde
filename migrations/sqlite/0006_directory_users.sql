-- Directory (LDAP / Active Directory) accounts: the entry's DN and display name as last read,
-- and when the directory last confirmed the account (a refresh token or CLI token of a
-- directory user re-checks it once that is older than ldap.cache_ttl). Mirrored groups are
-- found by their DN, compared without case.
ALTER TABLE users ADD COLUMN external_dn TEXT;
ALTER TABLE users ADD COLUMN display_name TEXT;
ALTER TABLE users ADD COLUMN directory_checked_at BIGINT;
CREATE INDEX user_groups_external_dn ON user_groups (lower(external_dn));
