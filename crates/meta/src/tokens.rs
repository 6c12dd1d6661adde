//! Refresh tokens (stored as SHA-256 of the opaque token) and the token signing keys every
//! replica shares.

use sqlx::Row;

use crate::identity::revoke_subject_tx;
use crate::{now_ms, Meta, MetaError};

/// A stored refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRow {
    /// `user` or `robot`.
    pub kind: String,
    pub subject_id: i64,
    pub epoch: i64,
    pub expires_at: i64,
    pub revoked: bool,
}

/// A token signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    pub kid: String,
    pub alg: String,
    /// Base64 of the PKCS#8 DER private key.
    pub private_der: String,
    /// The public key as a JWK (JSON).
    pub public_jwk: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

impl Meta {
    pub async fn insert_refresh_token(
        &self,
        hash: &str,
        kind: &str,
        subject_id: i64,
        epoch: i64,
        expires_at: i64,
    ) -> Result<(), MetaError> {
        self.timed(async move {
            sqlx::query(
                "INSERT INTO refresh_tokens (hash, kind, subject_id, epoch, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(hash)
            .bind(kind)
            .bind(subject_id)
            .bind(epoch)
            .bind(now_ms())
            .bind(expires_at)
            .execute(&self.write)
            .await?;
            Ok(())
        })
        .await
    }

    pub async fn refresh_token(&self, hash: &str) -> Result<Option<RefreshRow>, MetaError> {
        self.timed(async move {
            let row = sqlx::query(
                "SELECT kind, subject_id, epoch, expires_at, revoked FROM refresh_tokens WHERE hash = $1",
            )
            .bind(hash)
            .fetch_optional(&self.read)
            .await?;
            row.map(|r| {
                Ok(RefreshRow {
                    kind: r.try_get(0)?,
                    subject_id: r.try_get(1)?,
                    epoch: r.try_get(2)?,
                    expires_at: r.try_get(3)?,
                    revoked: r.try_get::<i64, _>(4)? != 0,
                })
            })
            .transpose()
        })
        .await
    }

    /// Revokes one refresh token (logout); false when unknown.
    pub async fn revoke_refresh_token(&self, hash: &str) -> Result<bool, MetaError> {
        self.timed(async move {
            let n = sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE hash = $1")
                .bind(hash)
                .execute(&self.write)
                .await?
                .rows_affected();
            Ok(n > 0)
        })
        .await
    }

    /// Revokes every refresh token of a subject.
    pub async fn revoke_refresh_tokens_of(&self, kind: &str, id: i64) -> Result<(), MetaError> {
        self.timed(async move {
            let mut tx = self.write.begin().await?;
            revoke_subject_tx(&mut tx, kind, id).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Deletes refresh tokens that expired before `before` (background cleanup).
    pub async fn purge_refresh_tokens(&self, before: i64) -> Result<u64, MetaError> {
        self.timed(async move {
            Ok(
                sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < $1")
                    .bind(before)
                    .execute(&self.write)
                    .await?
                    .rows_affected(),
            )
        })
        .await
    }

    /// Every signing key, newest first.
    pub async fn signing_keys(&self) -> Result<Vec<KeyRow>, MetaError> {
        self.timed(async move {
            let rows = sqlx::query(
                "SELECT kid, alg, private_der, public_jwk, created_at, retired_at FROM signing_keys \
                 ORDER BY created_at DESC, kid",
            )
            .fetch_all(&self.read)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(KeyRow {
                        kid: r.try_get(0)?,
                        alg: r.try_get(1)?,
                        private_der: r.try_get(2)?,
                        public_jwk: r.try_get(3)?,
                        created_at: r.try_get(4)?,
                        retired_at: r.try_get(5)?,
                    })
                })
                .collect()
        })
        .await
    }

    /// Adds a signing key. With `retire_others`, every other unretired key is retired now
    /// (rotation): it stops signing but still verifies the tokens it signed.
    pub async fn add_signing_key(&self, k: &KeyRow, retire_others: bool) -> Result<(), MetaError> {
        self.timed(async move {
            let mut tx = self.write.begin().await?;
            if retire_others {
                sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
                    .bind(k.created_at)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(
                "INSERT INTO signing_keys (kid, alg, private_der, public_jwk, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (kid) DO NOTHING",
            )
            .bind(&k.kid)
            .bind(&k.alg)
            .bind(&k.private_der)
            .bind(&k.public_jwk)
            .bind(k.created_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Deletes keys retired before `before` (no token they signed can still be valid).
    pub async fn purge_signing_keys(&self, before: i64) -> Result<u64, MetaError> {
        self.timed(async move {
            Ok(sqlx::query(
                "DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at < $1",
            )
            .bind(before)
            .execute(&self.write)
            .await?
            .rows_affected())
        })
        .await
    }
}
