//! Fixed-window counters in Postgres, so every instance shares them. One atomic upsert
//! per hit; a key's window starts at its first hit and resets once it has passed.

use sqlx::{PgExecutor, PgPool};

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Over the limit; the window ends in this many seconds.
    Limited {
        retry_after_secs: u64,
    },
}

/// Counts one event against `key` and tells whether it is within `max` per `window_secs`.
/// A `max` of 0 turns the limit off. Run it inside a transaction to count several
/// limits all-or-nothing.
pub async fn hit<'e>(db: impl PgExecutor<'e>, key: &str, max: u32, window_secs: u32) -> anyhow::Result<Verdict> {
    if max == 0 {
        return Ok(Verdict::Allowed);
    }
    let (count, remaining): (i32, f64) = sqlx::query_as(
        "INSERT INTO rate_limits (key, window_end, count)
         VALUES ($1, now() + make_interval(secs => $2), 1)
         ON CONFLICT (key) DO UPDATE SET
           count = CASE WHEN rate_limits.window_end <= now() THEN 1 ELSE rate_limits.count + 1 END,
           window_end = CASE WHEN rate_limits.window_end <= now() THEN EXCLUDED.window_end
                             ELSE rate_limits.window_end END
         RETURNING count, EXTRACT(EPOCH FROM (window_end - now()))::float8",
    )
    .bind(key)
    .bind(f64::from(window_secs))
    .fetch_one(db)
    .await?;
    Ok(judge(count, max, remaining))
}

/// Tells whether `key` is already over `max`, without counting anything.
pub async fn peek(db: &PgPool, key: &str, max: u32) -> anyhow::Result<Verdict> {
    if max == 0 {
        return Ok(Verdict::Allowed);
    }
    let row: Option<(i32, f64)> = sqlx::query_as(
        "SELECT count, EXTRACT(EPOCH FROM (window_end - now()))::float8
         FROM rate_limits WHERE key = $1 AND window_end > now()",
    )
    .bind(key)
    .fetch_optional(db)
    .await?;
    Ok(match row {
        // `peek` asks whether one more would be allowed.
        Some((count, remaining)) => judge(count + 1, max, remaining),
        None => Verdict::Allowed,
    })
}

/// Takes back one event counted against `key` in its current window: an attempt that was
/// reserved before the outcome was known and turned out not to count (a good password).
pub async fn give_back<'e>(db: impl PgExecutor<'e>, key: &str) -> anyhow::Result<()> {
    sqlx::query("UPDATE rate_limits SET count = count - 1 WHERE key = $1 AND window_end > now() AND count > 0")
        .bind(key)
        .execute(db)
        .await?;
    Ok(())
}

/// Drops counters whose window has passed, a batch at a time; run now and then so the
/// table stays small.
pub async fn purge_expired(db: &PgPool) -> anyhow::Result<u64> {
    crate::db::delete_in_batches(
        db,
        "DELETE FROM rate_limits WHERE ctid = ANY (ARRAY(
             SELECT ctid FROM rate_limits WHERE window_end <= now() LIMIT $1))",
    )
    .await
}

/// Drops the counters of `keys` (they name something erased), in the caller's transaction.
pub async fn forget<'e>(db: impl PgExecutor<'e>, keys: &[String]) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM rate_limits WHERE key = ANY($1)").bind(keys).execute(db).await?;
    Ok(())
}

fn judge(count: i32, max: u32, remaining_secs: f64) -> Verdict {
    if i64::from(count) <= i64::from(max) {
        Verdict::Allowed
    } else {
        Verdict::Limited { retry_after_secs: remaining_secs.ceil().max(1.0) as u64 }
    }
}
