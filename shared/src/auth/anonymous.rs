//! Anonymous sign-in: a new customer with no identity yet, and its first session.

use super::issue::{self, Issued};
use super::AuthError;
use crate::http::ClientInfo;
use crate::ratelimit;
use crate::state::AppState;
use crate::tokens::UserType;
use crate::users::{customers, Account};
use anyhow::Context;

const HOUR: u32 = 3600;

/// Creates an anonymous customer and signs it in, within the per-IP hourly limit.
#[tracing::instrument(skip_all)]
pub async fn sign_in(state: &AppState, client: &ClientInfo) -> Result<Issued, AuthError> {
    let ip = client.rate_limit_key();
    let limit = state.gateway()?.settings.anon_signins_per_ip_per_hour;
    AuthError::check(
        ratelimit::hit(&state.db, &format!("anon:ip:{ip}"), limit, HOUR).await.context("counting the sign-in")?,
    )?;

    let new = issue::prepare(state).await?;
    let account = Account { id: uuid::Uuid::new_v4(), user_type: UserType::Customer, is_anonymous: true, role: None };
    let mut tx = state.db.begin().await.context("starting the sign-in")?;
    customers::create_anonymous(&mut tx, account.id).await.context("creating the customer")?;
    let issued = issue::start(&mut tx, state, &new, account, client).await?;
    tx.commit().await.context("committing the sign-in")?;
    tracing::info!(customer_id = %account.id, "anonymous customer signed in");
    Ok(issued)
}
