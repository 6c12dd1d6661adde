-- Registry graph: repositories, blobs and their links, manifests, references, tags, uploads.
-- Timestamps are Unix milliseconds. Tag and repository names sort bytewise (BINARY collation),
-- which is the order the OCI spec's tag list and Go's sort.Strings use.
CREATE TABLE repositories (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE blobs (
    digest TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE repo_blobs (
    repo_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest TEXT NOT NULL REFERENCES blobs (digest),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (repo_id, digest)
);
CREATE INDEX repo_blobs_digest ON repo_blobs (digest);

CREATE TABLE manifests (
    repo_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    body BLOB NOT NULL,
    artifact_type TEXT,
    subject TEXT,
    annotations TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (repo_id, digest)
);
CREATE INDEX manifests_subject ON manifests (repo_id, subject, digest) WHERE subject IS NOT NULL;

-- What each manifest references: kind 0 = blob (config, layer), 1 = manifest (index entry).
CREATE TABLE manifest_refs (
    repo_id BIGINT NOT NULL,
    digest TEXT NOT NULL,
    child TEXT NOT NULL,
    kind SMALLINT NOT NULL,
    PRIMARY KEY (repo_id, digest, child),
    FOREIGN KEY (repo_id, digest) REFERENCES manifests (repo_id, digest) ON DELETE CASCADE
);
CREATE INDEX manifest_refs_child ON manifest_refs (repo_id, child);

CREATE TABLE tags (
    repo_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    digest TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (repo_id, name),
    FOREIGN KEY (repo_id, digest) REFERENCES manifests (repo_id, digest) ON DELETE CASCADE
);
CREATE INDEX tags_digest ON tags (repo_id, digest);

-- Upload sessions. `size` is the number of bytes accepted so far; `state` is opaque storage
-- backend state (e.g. an S3 multipart upload id).
CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    repo TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    size BIGINT NOT NULL,
    state TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX uploads_updated ON uploads (updated_at);
