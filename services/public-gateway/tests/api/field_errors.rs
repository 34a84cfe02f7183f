//! Gap 4: a body that does not parse names the offending field, on every route, and
//! changes nothing.

use poem::http::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

/// Sends `body` and checks the 400 names `field` (and not poem-openapi's type context).
async fn names_the_field(app: &TestApp, method: &str, path: &str, token: &str, body: Value, field: &str) {
    let reply = app.bearer_send(method, path, token, Some(body.clone())).await;
    assert_eq!((reply.status, reply.error_code()), (StatusCode::BAD_REQUEST, "invalid_request"), "{body}");
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(message.contains(&format!("`{field}`")), "{body} → {message}");
    assert!(!message.contains("occurred while parsing"), "{message}");
}

#[tokio::test]
async fn a_fractional_or_mistyped_price_and_other_bad_fields_are_named_in_the_message() {
    let app = spawn_app().await;
    let f = app.fixtures();
    let mitra = f.listed_mitra("Sari").await;
    let customer = f.verified_customer().await;
    let create = |price: Value| json!({ "title": "Pijat", "price": price, "duration_minutes": 60 });

    let reply = app.bearer_send("POST", "/api/mitra/services", &mitra.token, Some(create(json!(1500.5)))).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.body["error"]["message"].as_str().unwrap().contains("field `price`: failed to parse \"integer_int64\""),
        "{}",
        reply.body
    );
    for price in [json!("150000"), json!(true), json!(null)] {
        names_the_field(&app, "POST", "/api/mitra/services", &mitra.token, create(price), "price").await;
    }
    let missing = json!({ "title": "Pijat", "duration_minutes": 60 });
    names_the_field(&app, "POST", "/api/mitra/services", &mitra.token, missing, "price").await;
    let title = json!({ "title": 12, "price": 150000, "duration_minutes": 60 });
    names_the_field(&app, "POST", "/api/mitra/services", &mitra.token, title, "title").await;
    let minutes = json!({ "title": "Pijat", "price": 150000, "duration_minutes": 60.5 });
    names_the_field(&app, "POST", "/api/mitra/services", &mitra.token, minutes, "duration_minutes").await;
    let path = format!("/api/mitra/services/{}", mitra.service_id);
    names_the_field(&app, "PATCH", &path, &mitra.token, json!({ "price": 99.9 }), "price").await;
    names_the_field(&app, "PUT", "/api/mitra/availability", &mitra.token, json!({ "online": "yes" }), "online").await;
    names_the_field(
        &app,
        "PATCH",
        "/api/client/me",
        &customer.access_token,
        json!({ "display_name": 5 }),
        "display_name",
    )
    .await;
    let order = json!({ "service_id": "not-a-uuid" });
    names_the_field(&app, "POST", "/api/client/orders", &customer.access_token, order, "service_id").await;

    let services = app.get_with("/api/mitra/services", &mitra.token).await;
    assert_eq!(services.body["items"].as_array().unwrap().len(), 1, "nothing was created");
    assert_eq!(services.body["items"][0]["price"], 150_000, "nothing was changed");
}
