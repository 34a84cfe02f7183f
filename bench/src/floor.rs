//! The floors: what poem-openapi itself does with the same work and nothing else. The
//! stack is fixed to poem-openapi, so these, not bare hyper, are the honest ceilings for
//! the gateway's `session` and `me` scenarios. Same framework, same listener, same
//! runtime, the very same token check (`Keys::verify`) and the very same `me` query
//! (`customers::get` on the gateway's pool: `db::lazy_pool` at its default size), the same JSON; no edge
//! (request id, log line, client address, body limit, timeout, error mapper), no revoked
//! set, no user-type check.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use halo_shared::http::Server;
use halo_shared::tokens::{Claims, Keys, UserType};
use halo_shared::users::customers;
use poem::web::Data;
use poem::{EndpointExt, Request};
use poem_openapi::auth::Bearer;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, OpenApiService, SecurityScheme};
use uuid::Uuid;

/// The gateway's default `DB_MAX_CONNECTIONS`.
const POOL_SIZE: u32 = 10;

/// `sqlx_defaults`: sqlx's default pool options instead of the gateway's (to measure what
/// the gateway's settings change).
pub async fn serve(port: u16, database_url: &str, sqlx_defaults: bool) -> anyhow::Result<()> {
    let secret = std::env::var("AUTH_JWT_SECRET")?;
    let keys = Arc::new(Keys::new(secret.as_bytes()));
    // The gateway's own pool (`db::lazy_pool`, its settings), so the floor's query costs
    // what the gateway's does.
    let pool = if sqlx_defaults {
        sqlx::postgres::PgPoolOptions::new().max_connections(POOL_SIZE).connect_lazy(database_url)?
    } else {
        halo_shared::db::lazy_pool(&halo_shared::db::DatabaseSettings {
            url: database_url.to_owned().into(),
            max_connections: POOL_SIZE,
            acquire_timeout: std::time::Duration::from_secs(5),
        })?
    };
    let api = OpenApiService::new(FloorApi, "floor", "1");
    let app = poem::Route::new().nest("/", api).data(keys).data(pool);
    let server = Server::bind(([127, 0, 0, 1], port).into()).await?;
    server.run_until_stopped(app, std::future::pending()).await?;
    Ok(())
}

#[derive(SecurityScheme)]
#[oai(ty = "bearer", checker = "verify")]
struct BearerAuth(Claims);

async fn verify(req: &Request, bearer: Bearer) -> Option<Claims> {
    let keys = req.data::<Arc<Keys>>()?;
    keys.verify(&bearer.token, Utc::now().timestamp()).ok()
}

#[derive(Object)]
struct SessionInfo {
    user_id: Uuid,
    user_type: UserType,
    session_id: Uuid,
    expires_at: DateTime<Utc>,
}

#[derive(Object)]
struct CustomerProfile {
    id: Uuid,
    is_anonymous: bool,
    phone: Option<String>,
    email: Option<String>,
    display_name: Option<String>,
    created_at: DateTime<Utc>,
}

#[derive(ApiResponse)]
enum MeResponse {
    #[oai(status = 200)]
    Ok(Json<CustomerProfile>),
    #[oai(status = 404)]
    NotFound,
    #[oai(status = 500)]
    Failed,
}

struct FloorApi;

#[OpenApi]
impl FloorApi {
    #[oai(path = "/api/shared/auth/session", method = "get")]
    async fn session(&self, auth: BearerAuth) -> Json<SessionInfo> {
        let claims = auth.0;
        Json(SessionInfo {
            user_id: claims.sub,
            user_type: claims.user_type,
            session_id: claims.session_id,
            expires_at: DateTime::from_timestamp(claims.exp, 0).unwrap_or_default(),
        })
    }

    #[oai(path = "/api/client/me", method = "get")]
    async fn me(&self, pool: Data<&sqlx::PgPool>, auth: BearerAuth) -> MeResponse {
        match customers::get(&pool, auth.0.sub).await {
            Ok(Some(c)) => MeResponse::Ok(Json(CustomerProfile {
                id: c.id,
                is_anonymous: c.is_anonymous,
                phone: c.phone,
                email: c.email,
                display_name: c.display_name,
                created_at: c.created_at,
            })),
            Ok(None) => MeResponse::NotFound,
            Err(_) => MeResponse::Failed,
        }
    }
}
