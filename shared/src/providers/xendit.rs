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
