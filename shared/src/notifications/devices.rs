//! Devices push notifications go to: one FCM registration token per session. A token
//! belongs to one app install, so registering it for a new session takes it from any
//! older one. Revoking a session deletes its device (a trigger does it, whatever the
//! cause of the revocation).

use poem_openapi::Enum;
use uuid::Uuid;

use crate::state::AppState;
use crate::tokens::Claims;

/// The platform of a device (`DevicePlatform` in the spec: `Platform` collides with
/// Flutter's `dart:io`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "DevicePlatform", rename_all = "lowercase")]
pub enum Platform {
    Android,
    Ios,
    Web,
}

impl Platform {
    fn as_str(self) -> &'static str {
        match self {
            Platform::Android => "android",
            Platform::Ios => "ios",
            Platform::Web => "web",
        }
    }
}

/// Registers (or replaces) the device of the caller's session.
pub async fn register(state: &AppState, claims: &Claims, fcm_token: &str, platform: Platform) -> sqlx::Result<()> {
    let mut tx = state.db.begin().await?;
    sqlx::query("DELETE FROM devices WHERE fcm_token = $1 AND session_id <> $2")
        .bind(fcm_token)
        .bind(claims.session_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO devices (session_id, user_type, user_id, fcm_token, platform) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (session_id) DO UPDATE SET fcm_token = EXCLUDED.fcm_token, platform = EXCLUDED.platform,
                                                updated_at = now()",
    )
    .bind(claims.session_id)
    .bind(claims.user_type.as_str())
    .bind(claims.sub)
    .bind(fcm_token)
    .bind(platform.as_str())
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Removes the device of the caller's session, if any.
pub async fn remove(state: &AppState, session_id: Uuid) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM devices WHERE session_id = $1").bind(session_id).execute(&state.db).await?;
    Ok(())
}
