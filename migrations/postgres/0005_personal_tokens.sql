-- Personal CLI tokens: a user's named secrets for `docker login` and the API, stored as the
-- SHA-256 of the token (256 random bits), each with an optional expiry. Deleting the user
-- deletes them.
CREATE TABLE personal_tokens (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    UNIQUE (user_id, name)
);
