//! Payouts and payout accounts as the apps, staff and the socket events see them: the
//! account number only ever masked.

use chrono::{DateTime, Utc};
use poem_openapi::types::ToJSON;
use poem_openapi::{Enum, Object};
use uuid::Uuid;

use super::accounts::{PayoutAccount, PayoutAccountStatus};
use super::records::PayoutEvent;
use super::{Payout, PayoutStatus};
use crate::marketplace::orders::Currency;
use crate::providers::xendit::PayoutChannel;

/// A payout (§12); also the `data` of a `payout.updated` event.
#[derive(Debug, Clone, Object)]
pub struct PayoutView {
    pub id: Uuid,
    /// Whole rupiah.
    pub amount: i64,
    pub currency: Currency,
    pub status: PayoutStatus,
    pub channel_code: String,
    /// Every character but the last four replaced by `*`.
    pub account_number_masked: String,
    /// Xendit's code when it failed or bounced (e.g. `INVALID_DESTINATION`).
    #[oai(nullable)]
    pub failure_code: Option<String>,
    /// When Xendit expects the money to arrive.
    #[oai(nullable)]
    pub estimated_arrival_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Payout> for PayoutView {
    fn from(p: &Payout) -> Self {
        Self {
            id: p.id,
            amount: p.amount,
            currency: Currency::Idr,
            status: p.status,
            channel_code: p.channel_code.clone(),
            account_number_masked: p.account_number.masked(),
            failure_code: p.failure_code.clone(),
            estimated_arrival_at: p.estimated_arrival_at,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

impl Payout {
    /// The payout as the mitra sees it (§12), also the `payout.updated` event's data.
    pub fn to_json(&self) -> serde_json::Value {
        PayoutView::from(self).to_json().unwrap_or_default()
    }
}

/// One callback received for a payout, as it came.
#[derive(Debug, Clone, Object)]
pub struct PayoutCallbackView {
    pub id: i64,
    /// What applying it did (the README's payout runbook lists the outcomes).
    pub outcome: String,
    /// The body exactly as Xendit sent it.
    pub body: String,
    pub received_at: DateTime<Utc>,
}

impl From<PayoutEvent> for PayoutCallbackView {
    fn from(e: PayoutEvent) -> Self {
        Self { id: e.id, outcome: e.outcome, body: e.body, received_at: e.received_at }
    }
}

/// A payout as staff see it: the mitra's view plus whose it is and every callback.
#[derive(Debug, Clone, Object)]
pub struct StaffPayoutView {
    #[oai(flatten)]
    pub payout: PayoutView,
    pub mitra_id: Uuid,
    /// Every callback received for it, oldest first (empty in lists).
    pub events: Vec<PayoutCallbackView>,
}

/// A mitra's payout account (§12); also the `data` of a `payout_account.changed` event.
#[derive(Debug, Clone, Object)]
pub struct PayoutAccountView {
    pub channel_code: String,
    pub channel_name: String,
    /// Every character but the last four replaced by `*`.
    pub account_number_masked: String,
    pub account_holder_name: String,
    pub status: PayoutAccountStatus,
    /// Nothing is paid to the account before this (the cooldown after a change).
    pub payouts_allowed_from: DateTime<Utc>,
}

impl From<&PayoutAccount> for PayoutAccountView {
    fn from(a: &PayoutAccount) -> Self {
        Self {
            channel_code: a.channel_code.clone(),
            channel_name: a.channel_name.clone(),
            account_number_masked: a.account_number.masked(),
            account_holder_name: a.account_holder_name.clone(),
            status: a.status,
            payouts_allowed_from: a.payouts_allowed_from,
        }
    }
}

impl PayoutAccount {
    /// The account as the mitra and staff see it (masked); the event's data.
    pub fn to_json(&self) -> serde_json::Value {
        PayoutAccountView::from(self).to_json().unwrap_or_default()
    }
}

/// A payout channel's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum ChannelCategory {
    #[oai(rename = "BANK")]
    Bank,
    #[oai(rename = "EWALLET")]
    Ewallet,
}

/// A channel a payout account may use (§12).
#[derive(Debug, Clone, Object)]
pub struct PayoutChannelView {
    pub channel_code: String,
    pub channel_name: String,
    pub category: ChannelCategory,
    /// The smallest payout the channel takes (whole rupiah).
    pub minimum: i64,
    /// The largest payout the channel takes (whole rupiah).
    pub maximum: i64,
}

impl From<&PayoutChannel> for PayoutChannelView {
    fn from(c: &PayoutChannel) -> Self {
        Self {
            channel_code: c.channel_code.clone(),
            channel_name: c.channel_name.clone(),
            category: if c.channel_category == "EWALLET" { ChannelCategory::Ewallet } else { ChannelCategory::Bank },
            minimum: c.amount_limits.minimum,
            maximum: c.amount_limits.maximum,
        }
    }
}

/// A staff view of one change of a payout account.
#[derive(Debug, Clone, Object)]
pub struct AccountChangeView {
    /// `set` (the mitra changed it) or `invalidated` (a payout to it failed or bounced).
    pub change: String,
    pub channel_code: String,
    pub account_number_masked: String,
    pub account_holder_name: String,
    #[oai(nullable)]
    pub payout_id: Option<Uuid>,
    #[oai(nullable)]
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

impl From<super::accounts::AccountChange> for AccountChangeView {
    fn from(c: super::accounts::AccountChange) -> Self {
        Self {
            change: c.change,
            channel_code: c.channel_code,
            account_number_masked: c.account_number_masked,
            account_holder_name: c.account_holder_name,
            payout_id: c.payout_id,
            reason: c.reason,
            at: c.at,
        }
    }
}

/// A payout hold staff put on a mitra: nothing is paid while it stands.
#[derive(Debug, Clone, Object)]
pub struct PayoutHoldView {
    pub reason: String,
    pub since: DateTime<Utc>,
}

impl From<super::holds::PayoutHold> for PayoutHoldView {
    fn from(h: super::holds::PayoutHold) -> Self {
        Self { reason: h.reason, since: h.since }
    }
}

/// What staff see of a mitra's payouts setup: the account (masked), its history, the hold.
#[derive(Debug, Clone)]
pub struct MitraPayoutSetup {
    pub account: Option<PayoutAccountView>,
    pub history: Vec<AccountChangeView>,
    pub hold: Option<PayoutHoldView>,
}

impl super::Payouts {
    pub async fn mitra_setup(&self, mitra_id: Uuid) -> Result<MitraPayoutSetup, super::PayoutError> {
        let account = super::accounts::get(&self.db, mitra_id).await?;
        let history = super::accounts::history(&self.db, mitra_id).await?;
        let hold = super::holds::get(&self.db, mitra_id).await?;
        Ok(MitraPayoutSetup {
            account: account.as_ref().map(PayoutAccountView::from),
            history: history.into_iter().map(Into::into).collect(),
            hold: hold.map(Into::into),
        })
    }
}
