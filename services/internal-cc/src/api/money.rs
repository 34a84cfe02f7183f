//! The platform's money as staff see it: the ledger's balances (admins) and a mitra's
//! earnings (agents).

use chrono::{DateTime, Utc};
use halo_shared::auth::scheme::{AdminAuth, StaffAuth};
use halo_shared::error::statuses::*;
use halo_shared::error::ApiErrors;
use halo_shared::ledger;
use halo_shared::marketplace::orders::Currency;
use halo_shared::marketplace::MarketError;
use halo_shared::payments::earnings;
use halo_shared::AppState;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::Tag;

#[derive(Default)]
pub struct MoneyApi;

/// Every balance of the ledger, whole rupiah; `cash` equals the sum of the others.
#[derive(Debug, Object)]
pub struct LedgerBalances {
    pub currency: Currency,
    /// Money received at Xendit less money sent out (Xendit's fees stay outside: gross).
    pub cash: i64,
    /// Paid orders' money, held until they complete or are refunded.
    pub escrow: i64,
    /// The platform's commission.
    pub commission: i64,
    /// Money that arrived without a live order (refunded automatically, or flagged).
    pub unmatched: i64,
    /// Refunds asked of Xendit and not yet confirmed.
    pub refunds_in_flight: i64,
    pub mitra_pending: i64,
    pub mitra_available: i64,
    pub mitra_in_payout: i64,
}

/// A mitra's balances, whole rupiah, as the mitra sees them.
#[derive(Debug, Object)]
pub struct StaffMitraEarnings {
    pub currency: Currency,
    pub pending: i64,
    pub available: i64,
    pub in_payout: i64,
    #[oai(nullable)]
    pub next_release_at: Option<DateTime<Utc>>,
}

#[derive(ApiResponse)]
pub enum BalancesResponse {
    #[oai(status = 200)]
    Ok(Json<LedgerBalances>),
}

#[derive(ApiResponse)]
pub enum EarningsResponse {
    #[oai(status = 200)]
    Ok(Json<StaffMitraEarnings>),
}

#[OpenApi(tag = "Tag::Orders")]
impl MoneyApi {
    /// The ledger's balances (admins).
    ///
    /// Summed from every posting at the moment of the request.
    #[oai(path = "/internal/ledger/balances", method = "get", operation_id = "ccLedgerBalances")]
    async fn balances(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
    ) -> Result<BalancesResponse, ApiErrors<{ EDGE | BEARER }>> {
        let b = ledger::read::balances(&state.db).await.map_err(MarketError::from)?;
        Ok(BalancesResponse::Ok(Json(LedgerBalances {
            currency: Currency::Idr,
            cash: b.cash,
            escrow: b.escrow,
            commission: b.commission,
            unmatched: b.unmatched,
            refunds_in_flight: b.refunds_in_flight,
            mitra_pending: b.mitra_pending,
            mitra_available: b.mitra_available,
            mitra_in_payout: b.mitra_in_payout,
        })))
    }

    /// A mitra's earnings, as the mitra sees them.
    ///
    /// The same figures as the mitra's own `GET /api/mitra/earnings` (an unknown id shows
    /// zeros).
    #[oai(path = "/internal/mitras/:id/earnings", method = "get", operation_id = "ccMitraEarnings")]
    async fn earnings(
        &self,
        state: Data<&AppState>,
        _auth: StaffAuth,
        id: Path<Uuid>,
    ) -> Result<EarningsResponse, ApiErrors<{ WITH_PARAMS | BEARER }>> {
        let e = earnings::summary(&state.db, id.0).await.map_err(MarketError::from)?;
        Ok(EarningsResponse::Ok(Json(StaffMitraEarnings {
            currency: Currency::Idr,
            pending: e.pending,
            available: e.available,
            in_payout: e.in_payout,
            next_release_at: e.next_release_at,
        })))
    }
}
