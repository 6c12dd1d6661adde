-- Web UI sessions, shared by every replica. The cookie holds an opaque random token; only
-- its SHA-256 is stored. A session ends at `expires_at` (absolute), after the idle time
-- since `seen_at`, at sign-out, or when the user's epoch moves on (password change, disable).
CREATE TABLE ui_sessions (
    hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    epoch BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX ui_sessions_user ON ui_sessions (user_id);
CREATE INDEX ui_sessions_expires ON ui_sessions (expires_at);
