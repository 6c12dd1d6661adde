//! Outages of PostgreSQL and of S3 (being written).
