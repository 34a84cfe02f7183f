//! The mitra's earnings: balances and every entry that moved them.

use chrono::{DateTime, Utc};
use halo_shared::auth::scheme::MitraAuth;
use halo_shared::error::statuses::*;
use halo_shared::error::ApiErrors;
use halo_shared::marketplace::orders::Currency;
use halo_shared::marketplace::MarketError;
use halo_shared::pagination::Page;
use halo_shared::payments::earnings::{self, EntryBalance, EntryKind};
use halo_shared::AppState;
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::Tag;

#[derive(Default)]
pub struct EarningsApi;

/// A mitra's balances, whole rupiah.
#[derive(Debug, Object)]
pub struct MitraEarnings {
    pub currency: Currency,
    /// Earnings of completed orders still in the hold (the customer may dispute).
    pub pending: i64,
    /// What the next payout pays; negative when refunds took more than was available
    /// (netted from later earnings).
    pub available: i64,
    /// On its way in a payout.
    pub in_payout: i64,
    /// When the next pending earnings become available; null when nothing is pending.
    #[oai(nullable)]
    pub next_release_at: Option<DateTime<Utc>>,
}

impl From<earnings::Earnings> for MitraEarnings {
    fn from(e: earnings::Earnings) -> Self {
        Self {
            currency: Currency::Idr,
            pending: e.pending,
            available: e.available,
            in_payout: e.in_payout,
            next_release_at: e.next_release_at,
        }
    }
}

/// One posting to one of the mitra's balances.
#[derive(Debug, Object)]
pub struct EarningsEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub kind: EntryKind,
    /// Whole rupiah, signed: positive adds to `balance`.
    pub amount: i64,
    pub balance: EntryBalance,
    #[oai(nullable)]
    pub order_id: Option<Uuid>,
    #[oai(nullable)]
    pub payout_id: Option<Uuid>,
}

/// A page of entries, newest first.
#[derive(Debug, Object)]
pub struct EarningsEntryPage {
    pub items: Vec<EarningsEntry>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum EarningsResponse {
    #[oai(status = 200)]
    Ok(Json<MitraEarnings>),
}

#[derive(ApiResponse)]
pub enum EntriesResponse {
    #[oai(status = 200)]
    Ok(Json<EarningsEntryPage>),
}

#[OpenApi(tag = "Tag::Mitra")]
impl EarningsApi {
    /// The mitra's balances: pending, available, in payout.
    ///
    /// Summed from the ledger at the moment of the request.
    #[oai(path = "/api/mitra/earnings", method = "get", operation_id = "mitraEarnings")]
    async fn earnings(
        &self,
        state: Data<&AppState>,
        auth: MitraAuth,
    ) -> Result<EarningsResponse, ApiErrors<{ EDGE | BEARER }>> {
        let summary = earnings::summary(&state.db, auth.0.sub).await.map_err(MarketError::from)?;
        Ok(EarningsResponse::Ok(Json(summary.into())))
    }

    /// Every posting to the mitra's balances, newest first.
    ///
    /// Paged with `cursor`; 1–100 per page (`limit`, default 20).
    #[oai(path = "/api/mitra/earnings/entries", method = "get", operation_id = "mitraEarningsEntries")]
    async fn entries(
        &self,
        state: Data<&AppState>,
        auth: MitraAuth,
        /// 1–100, default 20.
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<EntriesResponse, ApiErrors<{ WITH_PARAMS | BEARER }>> {
        let page = Page::parse(limit.0, cursor.0.as_deref())?;
        let (items, next_cursor) = earnings::entries(&state.db, auth.0.sub, page).await.map_err(MarketError::from)?;
        let items = items
            .into_iter()
            .map(|e| EarningsEntry {
                id: e.id,
                at: e.at,
                kind: e.kind,
                amount: e.amount,
                balance: e.balance,
                order_id: e.order_id,
                payout_id: e.payout_id,
            })
            .collect();
        Ok(EntriesResponse::Ok(Json(EarningsEntryPage { items, next_cursor })))
    }
}
