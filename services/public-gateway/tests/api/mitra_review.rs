//! Security review L-7 (the gateway's side): an approved mitra that renames itself goes
//! back to `pending`, and customers keep seeing the name staff approved until staff
//! decide again.

use poem::http::StatusCode;
use serde_json::json;

use crate::helpers::{next_start, spawn_app};

#[tokio::test]
async fn a_renamed_mitra_stays_listed_under_its_approved_name_until_staff_approve_the_new_one() {
    let app = spawn_app().await;
    let f = app.fixtures();
    let mitra = f.listed_mitra("Sari").await;
    let customer = f.verified_customer().await;
    let listing = format!("/api/client/mitras/{}", mitra.id);

    let renamed =
        app.bearer_send("PATCH", "/api/mitra/me", &mitra.token, Some(json!({ "display_name": "Dokter Sari" }))).await;

    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(renamed.body["display_name"], "Dokter Sari");
    assert_eq!(renamed.body["verification_status"], "pending", "the new name waits for staff");
    let seen = app.get_with(&listing, &customer.access_token).await;
    assert_eq!((seen.status, &seen.body["display_name"]), (StatusCode::OK, &json!("Sari")));
    let page = app.get_with("/api/client/mitras", &customer.access_token).await;
    assert_eq!(page.body["items"][0]["display_name"], "Sari");
    let order = app
        .bearer_send(
            "POST",
            "/api/client/orders",
            &customer.access_token,
            Some(json!({ "service_id": mitra.service_id, "starts_at": next_start(None) })),
        )
        .await;
    assert_eq!(order.status, StatusCode::CREATED, "still orderable meanwhile: {}", order.body);

    f.decide_verification(mitra.id, true).await;
    let approved = app.get_with(&listing, &customer.access_token).await;
    assert_eq!(approved.body["display_name"], "Dokter Sari");
}

#[tokio::test]
async fn a_rejected_rename_unlists_the_mitra_and_bio_edits_or_the_same_name_change_nothing() {
    let app = spawn_app().await;
    let f = app.fixtures();
    let mitra = f.listed_mitra("Sari").await;
    let customer = f.verified_customer().await;
    let listing = format!("/api/client/mitras/{}", mitra.id);

    let bio =
        app.bearer_send("PATCH", "/api/mitra/me", &mitra.token, Some(json!({ "bio": "Pijat tradisional" }))).await;
    let same = app.bearer_send("PATCH", "/api/mitra/me", &mitra.token, Some(json!({ "display_name": "Sari" }))).await;
    assert_eq!(bio.body["verification_status"], "approved");
    assert_eq!(same.body["verification_status"], "approved", "the same name needs no review");

    let renamed =
        app.bearer_send("PATCH", "/api/mitra/me", &mitra.token, Some(json!({ "display_name": "Sari Official" }))).await;
    assert_eq!(renamed.body["verification_status"], "pending");
    f.decide_verification(mitra.id, false).await;

    let gone = app.get_with(&listing, &customer.access_token).await;
    assert_eq!((gone.status, gone.error_code()), (StatusCode::NOT_FOUND, "not_found"));
    let page = app.get_with("/api/client/mitras", &customer.access_token).await;
    assert_eq!(page.body["items"].as_array().unwrap().len(), 0);
}
