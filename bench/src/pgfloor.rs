//! The true floor for a database read: hyper and `tokio-postgres`, no framework and no
//! sqlx. `GET /api/client/me` does what the gateway's does and nothing else: the very
//! same token check (`Keys::verify`), the customer check, the very same primary-key
//! read as `customers::get` (a statement prepared once per connection), and the same
//! JSON. Ten connections, as the gateway's default pool; each request takes the next in
//! turn. A `tokio-postgres` client is shared, not checked out: a request that finds its
//! connection busy queues its query behind the one in flight (pipelined on the socket,
//! no pool to wait on). That is the least work per query a Rust server can do, so the
//! gap to it is what sqlx, poem and the project's layers cost together.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use halo_shared::tokens::{Keys, UserType};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_postgres::{Client, NoTls, Statement};
use uuid::Uuid;

/// The gateway's default `DB_MAX_CONNECTIONS`.
const CONNECTIONS: usize = 10;

/// The query of `customers::get`, character for character.
const SELECT_CUSTOMER: &str = "SELECT id, is_anonymous, phone, email, display_name, created_at
         FROM customers WHERE id = $1 AND merged_into IS NULL AND deleted_at IS NULL";

struct Floor {
    keys: Keys,
    clients: Vec<(Client, Statement)>,
    next: AtomicUsize,
}

pub async fn serve(port: u16, database_url: &str) -> anyhow::Result<()> {
    let secret = std::env::var("AUTH_JWT_SECRET")?;
    let mut clients = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let (client, connection) = tokio_postgres::connect(database_url, NoTls).await?;
        tokio::spawn(connection);
        let statement = client.prepare(SELECT_CUSTOMER).await?;
        clients.push((client, statement));
    }
    let floor: &'static Floor =
        Box::leak(Box::new(Floor { keys: Keys::new(secret.as_bytes()), clients, next: AtomicUsize::new(0) }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(floor, req));
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert("content-type", hyper::header::HeaderValue::from_static("application/json; charset=utf-8"));
    resp
}

fn error(status: StatusCode, code: &str) -> Response<Full<Bytes>> {
    json(status, format!(r#"{{"error":{{"code":"{code}","message":"{code}"}}}}"#))
}

async fn handle(floor: &Floor, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path() != "/api/client/me" {
        return Ok(error(StatusCode::NOT_FOUND, "not_found"));
    }
    let token = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let claims = match floor.keys.verify(token, Utc::now().timestamp()) {
        Ok(claims) if claims.user_type == UserType::Customer => claims,
        Ok(_) => return Ok(error(StatusCode::FORBIDDEN, "forbidden")),
        Err(_) => return Ok(error(StatusCode::UNAUTHORIZED, "invalid_token")),
    };
    let (client, statement) = &floor.clients[floor.next.fetch_add(1, Ordering::Relaxed) % CONNECTIONS];
    Ok(match client.query_opt(statement, &[&claims.sub]).await {
        Ok(Some(row)) => {
            let body = serde_json::json!({
                "id": row.get::<_, Uuid>(0),
                "is_anonymous": row.get::<_, bool>(1),
                "phone": row.get::<_, Option<&str>>(2),
                "email": row.get::<_, Option<&str>>(3),
                "display_name": row.get::<_, Option<&str>>(4),
                "created_at": row.get::<_, DateTime<Utc>>(5),
            });
            json(StatusCode::OK, body.to_string())
        }
        Ok(None) => error(StatusCode::NOT_FOUND, "not_found"),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
    })
}
