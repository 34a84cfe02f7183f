//! The per-number daily cap as a rolling 24 hours: a log of sends per number, each of
//! which frees its slot 24 hours after it was made. A fixed window (the general limiter)
//! lets whoever fills it first hold the number's owner off until it ends; a rolling one
//! gives the slots back one by one, and `Retry-After` says when the next one frees.
//!
//! Runs inside the request's limit transaction, so a refused request counts nothing; a
//! per-number advisory lock makes racing requests for one number count one at a time.

use sqlx::PgConnection;

use crate::phone::Phone;
use crate::ratelimit::Verdict;

const DAY_SECS: f64 = 86_400.0;

/// Counts one send to `phone` unless `max` were already sent in the last 24 hours.
/// `max` 0 turns the cap off.
pub async fn hit(tx: &mut PgConnection, phone: &Phone, max: u32) -> anyhow::Result<Verdict> {
    if max == 0 {
        return Ok(Verdict::Allowed);
    }
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("otp-phone-day:{phone}"))
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM otp_phone_sends WHERE phone = $1 AND sent_at <= now() - interval '1 day'")
        .bind(phone.as_str())
        .execute(&mut *tx)
        .await?;
    // The age of the send whose expiry frees the next slot.
    let (count, freeing_age): (i64, Option<f64>) = sqlx::query_as(
        "SELECT count(*), EXTRACT(EPOCH FROM now() - (array_agg(sent_at ORDER BY sent_at DESC))[$2])::float8
         FROM otp_phone_sends WHERE phone = $1",
    )
    .bind(phone.as_str())
    .bind(i32::try_from(max).unwrap_or(i32::MAX))
    .fetch_one(&mut *tx)
    .await?;
    if count >= i64::from(max) {
        let wait = DAY_SECS - freeing_age.unwrap_or(0.0);
        return Ok(Verdict::Limited { retry_after_secs: wait.ceil().max(1.0) as u64 });
    }
    sqlx::query("INSERT INTO otp_phone_sends (phone) VALUES ($1)").bind(phone.as_str()).execute(&mut *tx).await?;
    Ok(Verdict::Allowed)
}

/// Forgets every send to `phone` (its account was deleted), in the caller's transaction.
pub async fn erase(conn: &mut PgConnection, phone: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM otp_phone_sends WHERE phone = $1").bind(phone).execute(conn).await?;
    Ok(())
}

/// Deletes the sends that no longer count (older than 24 hours), a batch at a time.
pub async fn purge(db: &sqlx::PgPool) -> anyhow::Result<u64> {
    crate::db::delete_in_batches(
        db,
        "DELETE FROM otp_phone_sends WHERE ctid = ANY (ARRAY(
             SELECT ctid FROM otp_phone_sends WHERE sent_at <= now() - interval '1 day' LIMIT $1))",
    )
    .await
}
