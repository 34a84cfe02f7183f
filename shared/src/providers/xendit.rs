//! A small client for the parts of Xendit's API we use: invoices (create, find by
//! `external_id`, expire) and refunds (create with an idempotency key, read back). Basic auth
//! with the secret key; every call bounded by a timeout; amounts are whole rupiah
//! (integers), and every amount that comes back is checked against what we asked for.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use uuid::Uuid;

/// How long one call to Xendit may take before the request fails with 503.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

pub struct XenditClient {
    base_url: String,
    secret_key: SecretString,
    http: reqwest::Client,
}

/// An invoice as Xendit reports it.
#[derive(Debug, Clone, Deserialize)]
pub struct Invoice {
    pub id: String,
    pub external_id: String,
    pub status: String,
    pub amount: i64,
    #[serde(default)]
    pub paid_amount: Option<i64>,
    pub invoice_url: String,
    pub expiry_date: DateTime<Utc>,
}

/// A refund as Xendit reports it.
#[derive(Debug, Clone, Deserialize)]
pub struct Refund {
    pub id: String,
    pub status: String,
    pub amount: i64,
    #[serde(default)]
    pub reference_id: Option<String>,
    #[serde(default)]
    pub failure_code: Option<String>,
}

/// What asking Xendit for a refund gave.
#[derive(Debug)]
pub enum RefundAnswer {
    /// Xendit took it (its status may already be final).
    Accepted(Refund),
    /// Xendit refused it for good (a 4xx other than 408, 409 and 429: e.g. a channel that
    /// cannot refund); the code is Xendit's `error_code`.
    Rejected(String),
}

/// A refund to ask for.
pub struct RefundRequest<'a> {
    /// Our refund id: Xendit's `reference_id`.
    pub reference_id: &'a str,
    /// The `Idempotency-key` (the refund id, or the key an older refund was sent with).
    pub idempotency_key: &'a str,
    pub invoice_id: &'a str,
    pub amount: i64,
    /// `CANCELLATION`, `REQUESTED_BY_CUSTOMER`, `DUPLICATE`, `OTHERS`.
    pub reason: &'a str,
}

impl XenditClient {
    pub fn new(base_url: &str, secret_key: SecretString, http: reqwest::Client) -> Self {
        Self { base_url: base_url.trim_end_matches('/').to_owned(), secret_key, http }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base_url))
            .basic_auth(self.secret_key.expose_secret(), Some(""))
            .timeout(CALL_TIMEOUT)
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
        what: &str,
    ) -> anyhow::Result<T> {
        let resp = req.send().await.map_err(|e| anyhow::anyhow!("Xendit {what}: {}", e.without_url()))?;
        let status = resp.status();
        if !status.is_success() {
            // Xendit's error body names the problem (error_code, message) and never our key.
            let body = resp.text().await.unwrap_or_default();
            anyhow::bail!("Xendit {what} answered {status}: {}", body.chars().take(300).collect::<String>());
        }
        resp.json().await.with_context(|| format!("Xendit {what} response"))
    }

    /// `POST /v2/invoices` for an order.
    pub async fn create_invoice(&self, order_id: Uuid, amount: i64, duration_secs: u32) -> anyhow::Result<Invoice> {
        let body = serde_json::json!({
            "external_id": order_id.to_string(),
            "amount": amount,
            "currency": "IDR",
            "invoice_duration": duration_secs,
            "description": format!("Halo Bestie order {order_id}"),
        });
        let invoice: Invoice =
            self.send(self.request(reqwest::Method::POST, "/v2/invoices").json(&body), "invoice").await?;
        check_invoice(&invoice, order_id, amount)?;
        Ok(invoice)
    }

    /// `GET /v2/invoices?external_id=`: the invoices made for an order, newest first.
    pub async fn find_invoices(&self, order_id: Uuid) -> anyhow::Result<Vec<Invoice>> {
        let req = self.request(reqwest::Method::GET, "/v2/invoices").query(&[("external_id", order_id.to_string())]);
        self.send(req, "invoice lookup").await
    }

    /// `POST /invoices/{id}/expire!`: the invoice can no longer be paid.
    pub async fn expire_invoice(&self, invoice_id: &str) -> anyhow::Result<()> {
        let path = format!("/invoices/{invoice_id}/expire!");
        let _: serde_json::Value = self.send(self.request(reqwest::Method::POST, &path), "invoice expiry").await?;
        Ok(())
    }

    /// `POST /refunds`. The idempotency key is the refund's own, so a retry of the same
    /// refund can never refund twice. An error is "try again later" (5xx, timeout, 429);
    /// a definitive refusal is `RefundAnswer::Rejected`.
    pub async fn create_refund(&self, refund: &RefundRequest<'_>) -> anyhow::Result<RefundAnswer> {
        let body = serde_json::json!({
            "invoice_id": refund.invoice_id,
            "reference_id": refund.reference_id,
            "amount": refund.amount,
            "currency": "IDR",
            "reason": refund.reason,
        });
        let req = self
            .request(reqwest::Method::POST, "/refunds")
            .header("Idempotency-key", refund.idempotency_key)
            .json(&body);
        let resp = req.send().await.map_err(|e| anyhow::anyhow!("Xendit refund: {}", e.without_url()))?;
        let status = resp.status();
        if status.is_client_error() && !matches!(status.as_u16(), 408 | 409 | 429) {
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            let code = body["error_code"].as_str().unwrap_or("REJECTED").to_owned();
            return Ok(RefundAnswer::Rejected(code));
        }
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            anyhow::bail!("Xendit refund answered {status}: {}", body.chars().take(300).collect::<String>());
        }
        let answer: Refund = resp.json().await.context("Xendit refund response")?;
        anyhow::ensure!(
            answer.amount == refund.amount,
            "Xendit refunded {} instead of {}",
            answer.amount,
            refund.amount
        );
        Ok(RefundAnswer::Accepted(answer))
    }

    /// `GET /refunds/{id}`.
    pub async fn get_refund(&self, refund_id: &str) -> anyhow::Result<Refund> {
        self.send(self.request(reqwest::Method::GET, &format!("/refunds/{refund_id}")), "refund lookup").await
    }
}

/// An invoice we were given back must be for this order and this amount.
pub fn check_invoice(invoice: &Invoice, order_id: Uuid, amount: i64) -> anyhow::Result<()> {
    anyhow::ensure!(invoice.external_id == order_id.to_string(), "Xendit returned an invoice for another order");
    anyhow::ensure!(invoice.amount == amount, "Xendit invoiced {} instead of {amount}", invoice.amount);
    Ok(())
}

/// A payout as Xendit reports it (Payouts v2).
#[derive(Debug, Clone, Deserialize)]
pub struct Payout {
    pub id: String,
    #[serde(default)]
    pub reference_id: Option<String>,
    pub status: String,
    pub amount: i64,
    #[serde(default)]
    pub failure_code: Option<String>,
    #[serde(default)]
    pub estimated_arrival_time: Option<DateTime<Utc>>,
}

/// A payout to ask for: the body snapshotted on the payout row.
pub struct PayoutRequest<'a> {
    /// Our payout id: the `Idempotency-key` and the `reference_id`.
    pub reference_id: &'a str,
    pub channel_code: &'a str,
    pub account_number: &'a str,
    pub account_holder_name: &'a str,
    pub amount: i64,
    pub description: &'a str,
}

/// What asking Xendit for a payout gave.
#[derive(Debug)]
pub enum PayoutAnswer {
    /// Xendit took it (or had it already under this key).
    Accepted(Payout),
    /// One of the create errors that fail a payout for good (§16); Xendit's `error_code`.
    Rejected(String),
    /// Anything else (429, 401, 403, 409, `DUPLICATE_TRANSACTION_ERROR`, 5xx, a timeout):
    /// the payout stays pending and is sent again under the same key.
    Retry(String),
}

/// The only create errors that fail a payout and return its money (§16).
pub const PAYOUT_FAILING_ERRORS: &[&str] = &[
    "API_VALIDATION_ERROR",
    "CHANNEL_CODE_NOT_SUPPORTED_ERROR",
    "RECIPIENT_ACCOUNT_NUMBER_ERROR",
    "RECIPIENT_AMOUNT_ERROR",
    "MAXIMUM_TRANSFER_LIMIT_ERROR",
];

/// A payout channel of `GET /payouts_channels`.
#[derive(Debug, Clone, Deserialize)]
pub struct PayoutChannel {
    pub channel_code: String,
    pub channel_category: String,
    #[serde(default)]
    pub currency: Option<String>,
    pub channel_name: String,
    pub amount_limits: AmountLimits,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub struct AmountLimits {
    pub minimum: i64,
    pub maximum: i64,
    #[serde(default = "one")]
    pub minimum_increment: i64,
}

fn one() -> i64 {
    1
}

impl XenditClient {
    /// `POST /v2/payouts` with `Idempotency-key: <payout id>`: the same key never pays twice.
    pub async fn create_payout(&self, payout: &PayoutRequest<'_>) -> PayoutAnswer {
        let body = serde_json::json!({
            "reference_id": payout.reference_id,
            "channel_code": payout.channel_code,
            "channel_properties": {
                "account_number": payout.account_number,
                "account_holder_name": payout.account_holder_name,
            },
            "amount": payout.amount,
            "currency": "IDR",
            "description": payout.description,
        });
        let req = self
            .request(reqwest::Method::POST, "/v2/payouts")
            .header("Idempotency-key", payout.reference_id)
            .json(&body);
        let resp = match req.send().await {
            Ok(resp) => resp,
            Err(err) => return PayoutAnswer::Retry(format!("Xendit payout: {}", err.without_url())),
        };
        let status = resp.status();
        if status.is_success() {
            return match resp.json::<Payout>().await {
                Ok(answer) if answer.amount == payout.amount => PayoutAnswer::Accepted(answer),
                Ok(answer) => PayoutAnswer::Retry(format!("Xendit answered amount {}", answer.amount)),
                Err(err) => PayoutAnswer::Retry(format!("Xendit payout response: {err}")),
            };
        }
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        let code = body["error_code"].as_str().unwrap_or_default().to_owned();
        if status.is_client_error() && PAYOUT_FAILING_ERRORS.contains(&code.as_str()) {
            return PayoutAnswer::Rejected(code);
        }
        PayoutAnswer::Retry(format!("Xendit payout answered {status} {code}"))
    }

    /// `GET /v2/payouts?reference_id=`: what Xendit has under our payout id (a list, or
    /// a page `{data:[…]}`).
    pub async fn find_payouts(&self, reference_id: &str) -> anyhow::Result<Vec<Payout>> {
        let req = self.request(reqwest::Method::GET, "/v2/payouts").query(&[("reference_id", reference_id)]);
        let found: serde_json::Value = self.send(req, "payout lookup").await?;
        let list = match found {
            serde_json::Value::Array(_) => found,
            mut page => page["data"].take(),
        };
        let payouts: Vec<Payout> = serde_json::from_value(list).context("Xendit payout lookup response")?;
        Ok(payouts.into_iter().filter(|p| p.reference_id.as_deref().is_none_or(|r| r == reference_id)).collect())
    }

    /// `GET /v2/payouts/{id}`.
    pub async fn get_payout(&self, payout_id: &str) -> anyhow::Result<Payout> {
        self.send(self.request(reqwest::Method::GET, &format!("/v2/payouts/{payout_id}")), "payout read").await
    }

    /// `POST /v2/payouts/{id}/cancel` (only while it is `ACCEPTED`).
    pub async fn cancel_payout(&self, payout_id: &str) -> anyhow::Result<Payout> {
        let path = format!("/v2/payouts/{payout_id}/cancel");
        self.send(self.request(reqwest::Method::POST, &path), "payout cancel").await
    }

    /// `GET /payouts_channels?currency=IDR`.
    pub async fn payout_channels(&self) -> anyhow::Result<Vec<PayoutChannel>> {
        let req = self.request(reqwest::Method::GET, "/payouts_channels").query(&[("currency", "IDR")]);
        self.send(req, "payout channels").await
    }
}
