//! I-2: unauthenticated webhook posts cost a WARN line each no more: one per route per
//! interval, carrying how many it left out.

use halo_shared::testing::{self, send};
use poem::http::StatusCode;

use crate::helpers::{spawn_app, TestApp};

async fn forged(app: &TestApp, route: &str, token: Option<&str>) -> StatusCode {
    let mut req = app.client.post(route).header("content-type", "application/json").body("{}");
    if let Some(token) = token {
        req = req.header("x-callback-token", token);
    }
    send(req).await.status
}

#[tokio::test]
async fn a_flood_of_forged_callbacks_logs_one_warning_per_route_and_each_is_still_refused() {
    let app = spawn_app().await;
    let (guard, logs) = testing::capture_logs();
    for i in 0..20 {
        let token = (i % 2 == 0).then_some("forged-token");
        assert_eq!(forged(&app, "/api/webhooks/xendit/invoice", token).await, StatusCode::UNAUTHORIZED);
    }
    for _ in 0..5 {
        assert_eq!(forged(&app, "/api/webhooks/xendit/refund", None).await, StatusCode::UNAUTHORIZED);
    }
    drop(guard);

    let refused: Vec<String> = logs.lines().into_iter().filter(|l| l.contains("payment callback refused")).collect();
    assert_eq!(refused.len(), 2, "one line per route: {refused:#?}");
    assert!(refused.iter().any(|l| l.contains("invoice")) && refused.iter().any(|l| l.contains("refund")));
    assert!(refused.iter().all(|l| l.contains("suppressed") && l.contains('0')));
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM payment_callbacks").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(stored, 0, "nothing forged is stored");
}
