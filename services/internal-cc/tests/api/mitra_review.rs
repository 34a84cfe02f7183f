//! Security review L-7 (the control center's side): staff see a renamed mitra's proposed
//! and approved names, and every change of its services' titles, descriptions and prices.

use halo_shared::marketplace::services::{self, ServiceInput};
use halo_shared::users::mitras;
use halo_shared::users::staff::Role;
use poem::http::StatusCode;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn staff_see_a_renamed_mitra_pending_with_both_names_and_its_service_edits_newest_first() {
    let app = spawn_app().await;
    let f = app.fixtures();
    let mitra = f.listed_mitra("Sari").await;
    let agent = f.staff(Role::Agent).await;
    mitras::edit(&app.state.db, mitra.id, Some("Dokter Sari"), None).await.unwrap();
    let retitle = ServiceInput { title: Some("Pijat + konsultasi"), price: Some(400_000), ..ServiceInput::default() };
    services::edit(&app.state.db, mitra.id, mitra.service_id, &retitle).await.unwrap();
    let describe = ServiceInput { description: Some("Termasuk resep"), active: Some(false), ..ServiceInput::default() };
    services::edit(&app.state.db, mitra.id, mitra.service_id, &describe).await.unwrap();
    let nothing = ServiceInput { price: Some(400_000), duration_minutes: Some(90), ..ServiceInput::default() };
    services::edit(&app.state.db, mitra.id, mitra.service_id, &nothing).await.unwrap();

    let detail = app.get_with(&format!("/internal/mitras/{}", mitra.id), &agent.access_token).await;
    let queue = app.get_with("/internal/mitras?verification_status=pending", &agent.access_token).await;

    assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
    assert_eq!(
        (&detail.body["display_name"], &detail.body["listed_name"], &detail.body["verification_status"]),
        (&json!("Dokter Sari"), &json!("Sari"), &json!("pending"))
    );
    assert_eq!(queue.body["items"][0]["id"], mitra.id.to_string(), "back in the review queue");
    let changes: Vec<(String, String, String)> = detail.body["service_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["service_id"], mitra.service_id.to_string());
            let text = |k: &str| c[k].as_str().unwrap().to_owned();
            (text("field"), text("before"), text("after"))
        })
        .collect();
    let change = |f: &str, b: &str, a: &str| (f.to_owned(), b.to_owned(), a.to_owned());
    assert_eq!(
        changes,
        [
            change("description", "", "Termasuk resep"),
            change("price", "150000", "400000"),
            change("title", "Pijat 60 menit", "Pijat + konsultasi"),
        ],
        "newest first; unchanged values and other fields leave no entry"
    );
}
