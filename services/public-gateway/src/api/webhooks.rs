//! Third parties calling us: Xendit's invoice and refund callbacks. Public (Xendit has
//! no bearer token); each is authenticated by `x-callback-token` instead.

use std::marker::PhantomData;

use halo_shared::auth::public::Public;
use halo_shared::error::statuses::*;
use halo_shared::error::ApiErrors;
use halo_shared::payments::callbacks::CallbackOutcome;
use halo_shared::payments::Payments;
use halo_shared::payouts::Payouts;
use halo_shared::{ApiError, AppState};
use poem::web::Data;
use poem::{Request, RequestBody};
use poem_openapi::param::Header;
use poem_openapi::registry::{MetaMediaType, MetaRequest, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, Object, OpenApi};

use super::Tag;

#[derive(Default)]
pub struct WebhooksApi;

/// A JSON body kept as the bytes that arrived, so a malformed one can still be stored;
/// `T` only documents its shape in the spec.
pub struct RawJson<T>(pub Vec<u8>, PhantomData<T>);

impl<'a, T: Type> ApiExtractor<'a> for RawJson<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType { content_type: "application/json", schema: T::schema_ref() }],
            required: true,
        })
    }

    async fn from_request(
        _request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let bytes = body.take()?.into_vec().await.map_err(|e| ApiError::invalid_request(e.to_string()))?;
        Ok(Self(bytes, PhantomData))
    }
}

/// An invoice callback as Xendit sends it (more fields may come; all are stored).
#[derive(Debug, Object)]
pub struct XenditInvoiceCallback {
    /// Xendit's invoice id.
    pub id: String,
    /// Our order id.
    pub external_id: String,
    /// Xendit's invoice status; `PAID` and `SETTLED` pay the order, `EXPIRED` expires it,
    /// any other is stored and changes nothing.
    pub status: String,
    /// Whole rupiah.
    pub amount: i64,
    pub paid_amount: Option<i64>,
    pub paid_at: Option<String>,
    pub payment_method: Option<String>,
    pub payment_channel: Option<String>,
}

/// The refund in a refund callback.
#[derive(Debug, Object)]
pub struct XenditRefundData {
    pub id: String,
    pub invoice_id: Option<String>,
    /// Our refund id.
    pub reference_id: String,
    pub amount: i64,
    pub status: String,
}

/// A refund callback as Xendit sends it.
#[derive(Debug, Object)]
pub struct XenditRefundCallback {
    /// Xendit's event name; `refund.succeeded` completes the refund, `refund.failed`
    /// flags the order for staff.
    pub event: String,
    pub data: XenditRefundData,
}

/// The payout in a payout callback.
#[derive(Debug, Object)]
pub struct XenditPayoutData {
    /// Xendit's payout id (`disb-…`).
    pub id: String,
    /// Our payout id.
    pub reference_id: String,
    /// Xendit's status for the payout; it decides what the callback does (one we do not
    /// know is stored and changes nothing).
    pub status: String,
    /// Whole rupiah.
    pub amount: i64,
    pub channel_code: Option<String>,
    pub failure_code: Option<String>,
    pub estimated_arrival_time: Option<String>,
}

/// A payout callback as Xendit sends it.
#[derive(Debug, Object)]
pub struct XenditPayoutCallback {
    /// Xendit's event name; `data.status` says what happened.
    pub event: String,
    pub business_id: Option<String>,
    pub data: XenditPayoutData,
}

#[derive(ApiResponse)]
pub enum CallbackResponse {
    /// Received (stored, and applied at most once).
    #[oai(status = 200)]
    Received,
}

fn answer(outcome: CallbackOutcome) -> CallbackResponse {
    tracing::info!(outcome = ?outcome, "payment callback applied");
    CallbackResponse::Received
}

#[OpenApi(tag = "Tag::Webhooks")]
impl WebhooksApi {
    /// Xendit invoice callback.
    ///
    /// Authenticated by `x-callback-token` (401 otherwise, nothing changes). Every
    /// authentic callback is stored as it came and answered 200, duplicates and unknown
    /// invoices included; `PAID`/`SETTLED` moves an unpaid order to `paid` when the amount
    /// matches, for the order's own invoice, in IDR (its money is then held in escrow).
    /// A payment the order cannot take (a cancelled or expired order, a second invoice) is
    /// recorded as unmatched and refunded in full; a wrong amount expires the order and is
    /// flagged for staff. `EXPIRED` moves an unpaid order to `expired`. A malformed body
    /// is stored as `malformed` and answered 200 too (Xendit would retry it for days).
    #[oai(path = "/api/webhooks/xendit/invoice", method = "post", operation_id = "webhooksXenditInvoice")]
    async fn xendit_invoice(
        &self,
        _public: Public,
        state: Data<&AppState>,
        #[oai(name = "x-callback-token")] token: Header<Option<String>>,
        body: RawJson<XenditInvoiceCallback>,
    ) -> Result<CallbackResponse, ApiErrors<{ WITH_BODY | E401 }>> {
        Ok(answer(Payments::of(&state).invoice_callback(token.0.as_deref(), &body.0).await?))
    }

    /// Xendit refund callback.
    ///
    /// Authenticated like the invoice callback; `data.reference_id` is our refund id.
    /// Applied only when `data.id` and `data.amount` match the refund we asked for
    /// (otherwise the order is flagged `refund_mismatch`): `refund.succeeded` completes it
    /// (a full refund moves the order to `refunded`); `refund.failed` returns the money and
    /// flags the order `refund_rejected`.
    #[oai(path = "/api/webhooks/xendit/refund", method = "post", operation_id = "webhooksXenditRefund")]
    async fn xendit_refund(
        &self,
        _public: Public,
        state: Data<&AppState>,
        #[oai(name = "x-callback-token")] token: Header<Option<String>>,
        body: RawJson<XenditRefundCallback>,
    ) -> Result<CallbackResponse, ApiErrors<{ WITH_BODY | E401 }>> {
        Ok(answer(Payments::of(&state).refund_callback(token.0.as_deref(), &body.0).await?))
    }

    /// Xendit payout callback.
    ///
    /// Authenticated like the invoice callback (`x-callback-token`, 401 otherwise, nothing
    /// changes). Every authentic callback is stored as it came and answered 200. Applied
    /// once and only forward, when `data.reference_id` is our payout and `data.amount` its
    /// amount: `SUCCEEDED` pays it out of the platform's cash; `FAILED` and `CANCELLED`
    /// return the money to the mitra's available balance; `REVERSED` (after a success)
    /// returns it too. A failure code that blames the account (`INVALID_DESTINATION`,
    /// `REJECTED_BY_CHANNEL`, …) marks the payout account `invalid`. The mitra hears of
    /// every change (`payout.updated` and a push).
    #[oai(path = "/api/webhooks/xendit/payout", method = "post", operation_id = "webhooksXenditPayout")]
    async fn xendit_payout(
        &self,
        _public: Public,
        state: Data<&AppState>,
        #[oai(name = "x-callback-token")] token: Header<Option<String>>,
        body: RawJson<XenditPayoutCallback>,
    ) -> Result<CallbackResponse, ApiErrors<{ WITH_BODY | E401 }>> {
        let outcome = Payouts::of(&state).payout_callback(token.0.as_deref(), &body.0).await?;
        tracing::info!(outcome = outcome.as_str(), "payout callback applied");
        Ok(CallbackResponse::Received)
    }
}
