//! Where a mitra's money goes (§12): one payout account per mitra, changed only with a
//! fresh step-up code sent to the mitra's own phone (whoever changes it takes the
//! mitra's money). Every change restarts `PAYOUT_ACCOUNT_COOLDOWN_HOURS`, is kept in the
//! history staff see, and tells the mitra (`payout_account.changed` and a push). The
//! number is stored whole and only ever shown masked.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{AccountNumber, Payout, PayoutError, Payouts};
use crate::auth::otp;
use crate::http::ClientInfo;
use crate::notifications::{self, Delivery};
use crate::phone::Phone;
use crate::providers::xendit::PayoutChannel;
use crate::state::AppState;
use crate::tokens::UserType;
use crate::users;

/// A payout account's standing: `active` (paid once `payouts_allowed_from` has passed)
/// or `invalid` (a payout to it failed or bounced because of it; the mitra must change it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, poem_openapi::Enum)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum PayoutAccountStatus {
    Active,
    Invalid,
}

/// A mitra's payout account.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PayoutAccount {
    pub mitra_id: Uuid,
    pub channel_code: String,
    pub channel_name: String,
    pub category: String,
    pub account_number: AccountNumber,
    pub account_holder_name: String,
    pub status: PayoutAccountStatus,
    pub payouts_allowed_from: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const ACCOUNT_COLUMNS: &str = "mitra_id, channel_code, channel_name, category, account_number, account_holder_name, \
     status, payouts_allowed_from, updated_at";

/// What the mitra asked for (`PUT /api/mitra/payout-account`).
pub struct NewAccount<'a> {
    pub channel_code: &'a str,
    pub account_number: &'a str,
    pub account_holder_name: &'a str,
    pub otp_code: Option<&'a str>,
}

pub async fn get(db: &PgPool, mitra_id: Uuid) -> sqlx::Result<Option<PayoutAccount>> {
    sqlx::query_as(&format!("SELECT {ACCOUNT_COLUMNS} FROM payout_accounts WHERE mitra_id = $1"))
        .bind(mitra_id)
        .fetch_optional(db)
        .await
}

/// The number as Xendit takes it: digits only, 5–20 for a bank; for an e-wallet the
/// Indonesian mobile number it is registered to, in its local form (`08…`).
fn account_number(channel: &PayoutChannel, number: &str) -> Result<String, PayoutError> {
    let number = number.trim();
    if channel.channel_category == "EWALLET" {
        let phone = Phone::parse(number).map_err(|_| {
            PayoutError::Invalid(
                "account_number: an e-wallet takes the Indonesian mobile number it is registered to".into(),
            )
        })?;
        return match phone.as_str().strip_prefix("+62") {
            Some(rest) => Ok(format!("0{rest}")),
            None => Err(PayoutError::Invalid("account_number: an e-wallet takes an Indonesian mobile number".into())),
        };
    }
    if !(5..=20).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PayoutError::Invalid("account_number: digits only, 5 to 20 of them".into()));
    }
    Ok(number.to_owned())
}

fn holder_name(name: &str) -> Result<String, PayoutError> {
    let name = name.trim();
    let count = name.chars().count();
    if !(2..=100).contains(&count) || name.chars().any(char::is_control) {
        return Err(PayoutError::Invalid("account_holder_name: 2 to 100 characters".into()));
    }
    Ok(name.to_owned())
}

impl Payouts {
    /// `POST /api/mitra/payout-account/otp`: a step-up code to the mitra's own phone.
    pub async fn request_account_code(
        &self,
        state: &AppState,
        mitra_id: Uuid,
        client: &ClientInfo,
    ) -> Result<otp::Requested, PayoutError> {
        let phone = self.mitra_phone(mitra_id).await?;
        Ok(otp::request_step_up(state, &phone, client).await?)
    }

    async fn mitra_phone(&self, mitra_id: Uuid) -> Result<Phone, PayoutError> {
        let profile = users::mitras::get(&self.db, mitra_id).await?.ok_or(PayoutError::NotFound("no such mitra"))?;
        let phone = profile.phone.ok_or(PayoutError::NotFound("no such mitra"))?;
        Phone::parse(&phone)
            .map_err(|_| PayoutError::Unexpected(anyhow::anyhow!("a stored mitra phone does not parse")))
    }

    /// `PUT /api/mitra/payout-account`: validates the account against the channel list,
    /// checks the step-up code (missing → 400; wrong, used or expired → 403), then sets
    /// the account, restarts the cooldown, records the change and tells the mitra.
    pub async fn set_account(
        &self,
        state: &AppState,
        mitra_id: Uuid,
        new: &NewAccount<'_>,
    ) -> Result<PayoutAccount, PayoutError> {
        let channels = self.client.payout_channels().await.map_err(PayoutError::Unavailable)?;
        let channel = channels.iter().find(|c| c.channel_code == new.channel_code).ok_or_else(|| {
            PayoutError::Invalid("channel_code: not a payout channel (see /api/mitra/payout-channels)".into())
        })?;
        let number = account_number(channel, new.account_number)?;
        let name = holder_name(new.account_holder_name)?;
        let code = new.otp_code.map(str::trim).filter(|c| !c.is_empty());
        let code =
            code.ok_or_else(|| PayoutError::Invalid("otp_code: required (POST /api/mitra/payout-account/otp)".into()))?;
        let phone = self.mitra_phone(mitra_id).await?;
        otp::consume_step_up(state, &phone, code).await.map_err(|err| match err {
            otp::OtpError::InvalidOtp | otp::OtpError::OtpExpired => PayoutError::StepUp(err),
            other => PayoutError::Otp(other),
        })?;
        let cooldown = f64::from(self.money.payout_account_cooldown_hours) * 3600.0;
        let mut tx = self.db.begin().await.context("starting the account change")?;
        let account: PayoutAccount = sqlx::query_as(&format!(
            "INSERT INTO payout_accounts (mitra_id, channel_code, channel_name, category, account_number,
                                          account_holder_name, payouts_allowed_from)
             VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))
             ON CONFLICT (mitra_id) DO UPDATE SET channel_code = $2, channel_name = $3, category = $4,
                 account_number = $5, account_holder_name = $6, status = 'active', invalid_reason = NULL,
                 payouts_allowed_from = now() + make_interval(secs => $7), updated_at = now()
             RETURNING {ACCOUNT_COLUMNS}"
        ))
        .bind(mitra_id)
        .bind(&channel.channel_code)
        .bind(&channel.channel_name)
        .bind(&channel.channel_category)
        .bind(&number)
        .bind(&name)
        .bind(cooldown)
        .fetch_one(&mut *tx)
        .await
        .context("setting the account")?;
        record_change(&mut tx, &account, "set", None, None).await?;
        let event = account.to_json();
        let data = serde_json::json!({ "channel_code": account.channel_code });
        let delivery = Delivery {
            notification_id: Uuid::new_v4(),
            user_type: UserType::Mitra,
            user_id: mitra_id,
            event_type: "payout_account.changed",
            event: &event,
            title: "Rekening pencairan diubah",
            body: "Rekening pencairan Anda baru saja diubah. Jika bukan Anda, hubungi kami segera.",
            data: &data,
            created_by: None,
            // A change that may not be the mitra's own: always pushed.
            push_unless_seen: false,
        };
        notifications::deliver(&mut tx, &delivery).await.context("telling the mitra")?;
        tx.commit().await.context("committing the account change")?;
        tracing::info!(mitra_id = %mitra_id, channel = %account.channel_code, "payout account changed");
        Ok(account)
    }
}

async fn record_change(
    conn: &mut PgConnection,
    account: &PayoutAccount,
    change: &str,
    payout_id: Option<Uuid>,
    reason: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO payout_account_changes (mitra_id, change, channel_code, account_number_masked,
                                             account_holder_name, payout_id, reason)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(account.mitra_id)
    .bind(change)
    .bind(&account.channel_code)
    .bind(account.account_number.masked())
    .bind(&account.account_holder_name)
    .bind(payout_id)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(())
}

/// A payout failed or bounced because of its destination: the account it went to is
/// `invalid` until the mitra changes it (unless the mitra changed it already), and the
/// mitra is told.
pub(crate) async fn invalidate(conn: &mut PgConnection, payout: &Payout, code: &str) -> anyhow::Result<()> {
    let account: Option<PayoutAccount> = sqlx::query_as(&format!(
        "UPDATE payout_accounts SET status = 'invalid', invalid_reason = $3, updated_at = now()
         WHERE mitra_id = $1 AND account_number = $2 AND channel_code = $4 AND status = 'active'
         RETURNING {ACCOUNT_COLUMNS}"
    ))
    .bind(payout.mitra_id)
    .bind(&payout.account_number)
    .bind(code)
    .bind(&payout.channel_code)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(account) = account else { return Ok(()) };
    record_change(conn, &account, "invalidated", Some(payout.id), Some(code)).await?;
    let event = account.to_json();
    let data = serde_json::json!({ "channel_code": account.channel_code, "status": "invalid" });
    let delivery = Delivery {
        notification_id: Uuid::new_v4(),
        user_type: UserType::Mitra,
        user_id: payout.mitra_id,
        event_type: "payout_account.changed",
        event: &event,
        title: "Periksa rekening pencairan",
        body: "Pencairan ke rekening Anda ditolak bank. Perbarui rekening pencairan Anda.",
        data: &data,
        created_by: None,
        push_unless_seen: true,
    };
    notifications::deliver(conn, &delivery).await?;
    tracing::warn!(payout_id = %payout.id, code, "payout account marked invalid");
    Ok(())
}

/// Forgets a deleting mitra's payout account (number and holder name), in the caller's
/// transaction. The masked history and the payouts made stay, for accounting; the
/// mitra's available balance stays in the ledger for staff to settle.
pub async fn erase(conn: &mut PgConnection, mitra_id: Uuid) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM payout_accounts WHERE mitra_id = $1").bind(mitra_id).execute(conn).await?;
    Ok(())
}

/// One entry of an account's history (staff).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountChange {
    pub id: i64,
    pub change: String,
    pub channel_code: String,
    pub account_number_masked: String,
    pub account_holder_name: String,
    pub payout_id: Option<Uuid>,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

/// Every change of a mitra's payout account, newest first (the latest 100).
pub async fn history(db: &PgPool, mitra_id: Uuid) -> sqlx::Result<Vec<AccountChange>> {
    sqlx::query_as(
        "SELECT id, change, channel_code, account_number_masked, account_holder_name, payout_id, reason, at
         FROM payout_account_changes WHERE mitra_id = $1 ORDER BY id DESC LIMIT 100",
    )
    .bind(mitra_id)
    .fetch_all(db)
    .await
}

/// The condition on `payout_accounts a` joined to `mitras m` for a mitra who may be paid
/// now (§12): an active account past its cooldown, not suspended or deleted, no hold.
pub(crate) const PAYABLE: &str = "a.status = 'active' AND a.payouts_allowed_from <= now() \
     AND m.suspended_at IS NULL AND m.deleted_at IS NULL \
     AND NOT EXISTS (SELECT 1 FROM payout_holds h WHERE h.mitra_id = a.mitra_id)";

/// Whether the mitra may be paid now (a resubmission re-checks this, §16).
pub(crate) async fn payable(db: &PgPool, mitra_id: Uuid) -> sqlx::Result<bool> {
    let found: Option<Uuid> = sqlx::query_scalar(&format!(
        "SELECT a.mitra_id FROM payout_accounts a JOIN mitras m ON m.id = a.mitra_id
         WHERE a.mitra_id = $1 AND {PAYABLE}"
    ))
    .bind(mitra_id)
    .fetch_optional(db)
    .await?;
    Ok(found.is_some())
}

/// One mitra with a payout account, in the run's stream.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct Candidate {
    pub mitra_id: Uuid,
    /// Payable now and no payout in flight.
    pub eligible: bool,
}

/// A keyset page of every mitra with a payout account, after `after`.
pub(crate) async fn candidates(db: &PgPool, after: Option<Uuid>, limit: i64) -> sqlx::Result<Vec<Candidate>> {
    sqlx::query_as(&format!(
        "SELECT a.mitra_id,
                ({PAYABLE} AND NOT EXISTS (SELECT 1 FROM payouts p
                                          WHERE p.mitra_id = a.mitra_id AND p.status IN ('pending', 'accepted')))
                AS eligible
         FROM payout_accounts a JOIN mitras m ON m.id = a.mitra_id
         WHERE ($1::uuid IS NULL OR a.mitra_id > $1)
         ORDER BY a.mitra_id LIMIT $2"
    ))
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The destination of a payable mitra, its account row locked for the caller's
/// transaction (two runs take one mitra one at a time); `None` when it is not payable
/// (any more) or has a payout in flight.
pub(crate) async fn lock_payable(conn: &mut PgConnection, mitra_id: Uuid) -> sqlx::Result<Option<PayoutAccount>> {
    sqlx::query_as(&format!(
        "SELECT a.mitra_id, a.channel_code, a.channel_name, a.category, a.account_number, a.account_holder_name,
                a.status, a.payouts_allowed_from, a.updated_at
         FROM payout_accounts a JOIN mitras m ON m.id = a.mitra_id
         WHERE a.mitra_id = $1 AND {PAYABLE}
           AND NOT EXISTS (SELECT 1 FROM payouts p WHERE p.mitra_id = a.mitra_id AND p.status IN ('pending', 'accepted'))
         FOR UPDATE OF a"
    ))
    .bind(mitra_id)
    .fetch_optional(conn)
    .await
}
