//! Xendit's payout callbacks (`POST /api/webhooks/xendit/payout`): authenticated like the
//! invoice callbacks (`x-callback-token`, constant time, 401 otherwise), stored as they
//! came, answered 200 whenever authentic (duplicates, unknown payouts and malformed bodies
//! included), and applied at most once and only forward, when `reference_id` names our
//! payout and the amount is the payout's.

use uuid::Uuid;

use super::records::{self, Applied, Reported};
use super::run::xendit_status;
use super::{PayoutStatus, Payouts};
use crate::payments::callbacks::CallbackError;

/// What a payout callback did (stored with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayoutCallbackOutcome {
    Applied(Applied),
    UnknownPayout,
    Malformed,
}

impl PayoutCallbackOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutCallbackOutcome::Applied(applied) => applied.as_str(),
            PayoutCallbackOutcome::UnknownPayout => "unknown_payout",
            PayoutCallbackOutcome::Malformed => "malformed",
        }
    }
}

struct Parsed {
    reference_id: String,
    xendit_id: String,
    status: PayoutStatus,
    amount: Option<i64>,
    failure_code: Option<String>,
    eta: Option<chrono::DateTime<chrono::Utc>>,
}

fn parse(body: &[u8]) -> Result<Parsed, String> {
    let json: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let data = &json["data"];
    let text =
        |v: &serde_json::Value, name: &str| v[name].as_str().map(str::to_owned).ok_or(format!("no string {name}"));
    // The data's status says what happened; the event name when it is missing.
    let status = match data["status"].as_str() {
        Some(status) => status.to_owned(),
        None => text(&json, "event")?.trim_start_matches("payout.").to_uppercase(),
    };
    let status = xendit_status(&status).ok_or(format!("unknown status {status}"))?;
    let amount = match &data["amount"] {
        serde_json::Value::Null => None,
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Some(i),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e15 => Some(f as i64),
            _ => return Err("amount is not a whole number of rupiah".into()),
        },
        _ => return Err("amount is not a number".into()),
    };
    let eta = data["estimated_arrival_time"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    Ok(Parsed {
        reference_id: text(data, "reference_id")?,
        xendit_id: text(data, "id")?,
        status,
        amount,
        failure_code: data["failure_code"].as_str().map(str::to_owned),
        eta: eta.map(|t| t.with_timezone(&chrono::Utc)),
    })
}

impl Payouts {
    /// `POST /api/webhooks/xendit/payout`.
    pub async fn payout_callback(
        &self,
        token: Option<&str>,
        body: &[u8],
    ) -> Result<PayoutCallbackOutcome, CallbackError> {
        if !token.is_some_and(|t| self.client.callback_token_matches(t)) {
            tracing::warn!(kind = "payout", "payment callback refused: missing or wrong x-callback-token");
            return Err(CallbackError::Unauthenticated);
        }
        Ok(self.apply_callback(body).await?)
    }

    /// Applies an authentic callback body and stores it with what it did (also the stub's
    /// path: `stub-payout-succeed`).
    pub async fn apply_callback(&self, body: &[u8]) -> anyhow::Result<PayoutCallbackOutcome> {
        let parsed = match parse(body) {
            Ok(parsed) => parsed,
            Err(why) => {
                tracing::warn!(why, "malformed payout callback stored");
                records::store_callback(&self.db, body, None, "malformed").await?;
                return Ok(PayoutCallbackOutcome::Malformed);
            }
        };
        let payout = match Uuid::try_parse(&parsed.reference_id) {
            Ok(id) => records::get(&self.db, id).await?,
            Err(_) => None,
        };
        let Some(payout) = payout else {
            records::store_callback(&self.db, body, None, "unknown_payout").await?;
            return Ok(PayoutCallbackOutcome::UnknownPayout);
        };
        let report = |status| Reported {
            status,
            xendit_id: Some(&parsed.xendit_id),
            amount: parsed.amount,
            failure_code: parsed.failure_code.as_deref(),
            estimated_arrival_at: parsed.eta,
        };
        let mut tx = self.db.begin().await?;
        let locked = records::lock(&mut tx, payout.id).await?.unwrap_or(payout);
        let applied = records::apply(&mut tx, &locked, &report(parsed.status)).await?;
        tx.commit().await?;
        records::store_callback(&self.db, body, Some(locked.id), applied.as_str()).await?;
        Ok(PayoutCallbackOutcome::Applied(applied))
    }

    /// The stub's succeed command: the callback Xendit would send for a stub payout,
    /// through the same path. Refused for a payout the stub did not make.
    pub async fn stub_succeed(&self, id: Uuid) -> anyhow::Result<PayoutCallbackOutcome> {
        let payout = records::get(&self.db, id).await?.ok_or_else(|| anyhow::anyhow!("no payout {id}"))?;
        let stub_id = format!("stub-{id}");
        anyhow::ensure!(
            payout.xendit_payout_id.as_deref() == Some(stub_id.as_str()),
            "payout {id} was not made by the payment stub"
        );
        let body = serde_json::json!({
            "event": "payout.succeeded", "business_id": "stub", "created": chrono::Utc::now(),
            "data": { "id": stub_id, "reference_id": id.to_string(), "status": "SUCCEEDED",
                      "amount": payout.amount, "channel_code": payout.channel_code }
        });
        self.apply_callback(body.to_string().as_bytes()).await
    }
}
