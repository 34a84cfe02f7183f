//! Paying mitra (contract §12, §16): payout accounts behind a step-up code, the weekly
//! `run-payouts` through Xendit Payouts v2, its callbacks, reconciliation, and staff's
//! holds. Owns `payouts`, `payout_accounts`, `payout_account_changes`, `payout_callbacks`
//! and `payout_holds`; every money move is one `ledger` transaction in the same database
//! transaction as the payout row it belongs to.
//!
//! ```text
//! run-payouts                      database                               Xendit
//!  │ stream eligible mitra (keyset pages of payout accounts)
//!  │ lock the account, re-check, read available ─► payouts row `pending` +
//!  │                                              available −P, in_payout +P   (commit)
//!  │ POST /v2/payouts (Idempotency-key = payout id, body from the row) ──────────►│
//!  │    2xx ACCEPTED ─► `accepted`        a §16 create error ─► look up, then `failed`
//!  │    429/5xx/timeout/409/… ─► stays `pending`; the next run or reconciliation looks
//!  │    it up (GET /v2/payouts?reference_id=) and sends the same body with the same key
//!  │◄── POST /api/webhooks/xendit/payout (x-callback-token) ─────────────────────│
//!  │    succeeded: in_payout −P, cash +P (paid out)
//!  │    failed / cancelled: in_payout −P, available +P; reversed: cash −P, available +P
//!  │    an account-blaming failure code marks the payout account `invalid`
//! ```
//!
//! Never paid twice: a payout is committed before Xendit hears of it, its id is the
//! idempotency key, the database allows one `pending`/`accepted` payout per mitra, and
//! every status change is forward-only under the payout's row lock, each posting under
//! its own unique ledger reference.

pub mod accounts;
pub mod callbacks;
pub mod holds;
pub mod reconcile;
pub mod records;
pub mod run;
pub mod views;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::auth::otp::OtpError;
use crate::error::{ApiError, ErrorCode};
use crate::providers::payments::PaymentClient;
use crate::state::{AppState, MoneySettings};

/// The payouts service: the database, the payment provider's client and the money rules.
#[derive(Clone)]
pub struct Payouts {
    db: PgPool,
    client: Arc<PaymentClient>,
    money: MoneySettings,
}

impl Payouts {
    pub fn new(db: PgPool, client: Arc<PaymentClient>, money: MoneySettings) -> Self {
        Self { db, client, money }
    }

    pub fn of(state: &AppState) -> Self {
        Self::new(state.db.clone(), state.payments.clone(), state.settings().money)
    }

    /// The payout channels a payout account may use (Xendit's list, cached; the stub's).
    pub async fn channels(&self) -> Result<Vec<views::PayoutChannelView>, PayoutError> {
        let channels = self.client.payout_channels().await.map_err(PayoutError::Unavailable)?;
        Ok(channels.iter().map(views::PayoutChannelView::from).collect())
    }

    /// A page of payouts, newest first: a mitra's own (`mitra_id`), or staff's filtered.
    pub async fn list(
        &self,
        mitra_id: Option<Uuid>,
        status: Option<PayoutStatus>,
        page: crate::pagination::Page,
    ) -> Result<(Vec<Payout>, Option<String>), PayoutError> {
        Ok(records::list(&self.db, mitra_id, status, page).await?)
    }

    /// One payout; `owner` limits it to that mitra's (another's is not found).
    pub async fn get(&self, id: Uuid, owner: Option<Uuid>) -> Result<Payout, PayoutError> {
        let payout = records::get(&self.db, id).await?.filter(|p| owner.is_none_or(|o| o == p.mitra_id));
        payout.ok_or(PayoutError::NotFound("no such payout"))
    }

    /// One payout with every callback received for it (staff).
    pub async fn staff_view(&self, id: Uuid) -> Result<views::StaffPayoutView, PayoutError> {
        let payout = self.get(id, None).await?;
        let events = records::events(&self.db, id).await?.into_iter().map(Into::into).collect();
        Ok(views::StaffPayoutView { payout: (&payout).into(), mitra_id: payout.mitra_id, events })
    }

    /// The mitra's payout account; `NotFound` when none was set.
    pub async fn account(&self, mitra_id: Uuid) -> Result<accounts::PayoutAccount, PayoutError> {
        accounts::get(&self.db, mitra_id).await?.ok_or(PayoutError::NotFound("no payout account"))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PayoutError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(&'static str),
    /// A wrong, used or expired step-up code: 403 (§16), so an app does not take it for
    /// an expired access token.
    #[error(transparent)]
    StepUp(OtpError),
    #[error(transparent)]
    Otp(#[from] OtpError),
    #[error("the payment provider is not answering; try again shortly")]
    Unavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<sqlx::Error> for PayoutError {
    fn from(err: sqlx::Error) -> Self {
        PayoutError::Unexpected(err.into())
    }
}

impl From<crate::ledger::PostError> for PayoutError {
    fn from(err: crate::ledger::PostError) -> Self {
        PayoutError::Unexpected(err.into())
    }
}

impl From<PayoutError> for ApiError {
    fn from(err: PayoutError) -> Self {
        match err {
            PayoutError::Invalid(message) => ApiError::invalid_request(message),
            PayoutError::NotFound(message) => ApiError::new(ErrorCode::NotFound, message),
            PayoutError::StepUp(otp) => {
                let code = match otp {
                    OtpError::OtpExpired => ErrorCode::OtpExpired,
                    OtpError::InvalidOtp => ErrorCode::InvalidOtp,
                    other => return other.into(),
                };
                ApiError::new(code, otp.to_string()).with_status(poem::http::StatusCode::FORBIDDEN)
            }
            PayoutError::Otp(otp) => otp.into(),
            PayoutError::Unavailable(cause) => {
                tracing::warn!(error = format!("{cause:#}"), "payment provider failed");
                ApiError::new(ErrorCode::PaymentUnavailable, "the payment provider is not answering; try again shortly")
            }
            PayoutError::Unexpected(cause) => ApiError::internal(&cause),
        }
    }
}

/// An account number as stored: whole, but never printed whole (its `Debug` is masked).
#[derive(Clone, PartialEq, Eq, sqlx::Type)]
#[sqlx(transparent)]
pub struct AccountNumber(String);

impl AccountNumber {
    pub fn new(number: String) -> Self {
        Self(number)
    }

    /// Every character but the last four replaced by `*` (§12).
    pub fn masked(&self) -> String {
        mask(&self.0)
    }

    /// The whole number, for Xendit only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AccountNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.masked())
    }
}

/// `number` with every character but the last four replaced by `*`.
pub fn mask(number: &str) -> String {
    let count = number.chars().count();
    number.chars().enumerate().map(|(i, c)| if i + 4 < count { '*' } else { c }).collect()
}

/// A payout's status (§12): `pending` (recorded, not yet accepted by Xendit) →
/// `accepted` → `succeeded` | `failed` | `cancelled`; `succeeded` → `reversed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, poem_openapi::Enum)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum PayoutStatus {
    Pending,
    Accepted,
    Succeeded,
    Failed,
    Cancelled,
    Reversed,
}

impl PayoutStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutStatus::Pending => "pending",
            PayoutStatus::Accepted => "accepted",
            PayoutStatus::Succeeded => "succeeded",
            PayoutStatus::Failed => "failed",
            PayoutStatus::Cancelled => "cancelled",
            PayoutStatus::Reversed => "reversed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => PayoutStatus::Pending,
            "accepted" => PayoutStatus::Accepted,
            "succeeded" => PayoutStatus::Succeeded,
            "failed" => PayoutStatus::Failed,
            "cancelled" => PayoutStatus::Cancelled,
            "reversed" => PayoutStatus::Reversed,
            _ => return None,
        })
    }

    /// Whether the move from `self` to `to` is forward (§12, §16: terminal callbacks apply
    /// from `pending` or `accepted` alike; only a success can be reversed).
    pub fn may_become(self, to: PayoutStatus) -> bool {
        use PayoutStatus::*;
        matches!(
            (self, to),
            (Pending, Accepted) | (Pending | Accepted, Succeeded | Failed | Cancelled) | (Succeeded, Reversed)
        )
    }
}

/// One payout, as its row holds it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Payout {
    pub id: Uuid,
    pub mitra_id: Uuid,
    pub amount: i64,
    pub status: PayoutStatus,
    pub channel_code: String,
    pub account_number: AccountNumber,
    pub account_holder_name: String,
    pub description: String,
    pub xendit_payout_id: Option<String>,
    pub failure_code: Option<String>,
    pub estimated_arrival_at: Option<DateTime<Utc>>,
    pub attempts: i32,
    pub accepted_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_keeps_only_the_last_four_characters() {
        assert_eq!(mask("1234567890"), "******7890");
        assert_eq!(mask("12345"), "*2345");
        assert_eq!(mask("081234567890"), "********7890");
        assert_eq!(format!("{:?}", AccountNumber::new("9876543210".into())), "******3210");
    }

    #[test]
    fn statuses_only_move_forward() {
        use PayoutStatus::*;
        assert!(Pending.may_become(Accepted));
        assert!(Pending.may_become(Succeeded));
        assert!(Accepted.may_become(Failed));
        assert!(Succeeded.may_become(Reversed));
        assert!(!Accepted.may_become(Pending));
        assert!(!Failed.may_become(Succeeded));
        assert!(!Succeeded.may_become(Failed));
        assert!(!Accepted.may_become(Reversed));
        assert!(!Reversed.may_become(Succeeded));
    }
}
