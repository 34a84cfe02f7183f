//! ID tokens are single use here. A token captured from a log, a proxy or a crash report
//! stays valid at the provider for up to an hour; without this, each replay would sign
//! the victim in again and mint another session. Each token's SHA-256 is recorded with
//! one `INSERT … ON CONFLICT DO NOTHING`, which exactly one of any number of racing
//! requests wins; rows are kept until the token expires (plus leeway), then purged.
//!
//! The whole token is the key: its signature covers every byte, so it cannot be
//! re-encoded into a different string that still verifies.

use ring::digest;
use sqlx::PgPool;

use crate::auth::AuthError;
use crate::providers::oidc::VerifiedIdentity;

/// Beyond `exp`, as long as verification tolerates clock skew.
const KEEP_AFTER_EXP_SECS: i64 = 120;

/// Records the first use of `token`; a second use is `InvalidIdToken`.
pub async fn first_use(db: &PgPool, token: &str, identity: &VerifiedIdentity) -> Result<(), AuthError> {
    let hash = digest::digest(&digest::SHA256, token.as_bytes()).as_ref().to_vec();
    let inserted = sqlx::query(
        "INSERT INTO id_token_uses (token_hash, provider, subject, expires_at)
         VALUES ($1, $2, $3, to_timestamp($4)) ON CONFLICT (token_hash) DO NOTHING",
    )
    .bind(hash)
    .bind(identity.provider.as_str())
    .bind(&identity.subject)
    .bind((identity.expires_at + KEEP_AFTER_EXP_SECS) as f64)
    .execute(db)
    .await?
    .rows_affected();
    if inserted == 0 {
        tracing::warn!(provider = identity.provider.as_str(), "an ID token was presented again; refused");
        return Err(AuthError::InvalidIdToken);
    }
    Ok(())
}

/// Drops the records of tokens that have expired anyway (a replay of one fails its own
/// expiry check), a batch at a time.
pub async fn purge_expired(db: &PgPool) -> anyhow::Result<u64> {
    crate::db::delete_in_batches(
        db,
        "DELETE FROM id_token_uses WHERE ctid = ANY (ARRAY(
             SELECT ctid FROM id_token_uses WHERE expires_at <= now() LIMIT $1))",
    )
    .await
}
