//! Reviews (contract §14, §16): one per side per completed order within the window,
//! double-blind publication at both triggers, ratings in browse, the mitra's detail and
//! the mitra's order view, hiding, and aggregates under concurrent reviews.

use halo_shared::marketplace::reviews;
use halo_shared::users::staff::Role;
use poem::http::StatusCode;
use serde_json::{json, Value};

use crate::chat::Deal;
use crate::helpers::{relaxed, spawn_app_with, Reply, TestApp};

impl TestApp {
    async fn review_as_customer(&self, deal: &Deal, rating: i64, comment: Option<&str>) -> Reply {
        let body = json!({ "rating": rating, "comment": comment });
        self.bearer_send("POST", &deal.client("/review"), &deal.customer.access_token, Some(body)).await
    }

    async fn review_as_mitra(&self, deal: &Deal, rating: i64) -> Reply {
        self.bearer_send("POST", &deal.mitra_path("/review"), &deal.mitra.token, Some(json!({ "rating": rating })))
            .await
    }

    async fn rating_in_detail(&self, deal: &Deal) -> Value {
        let viewer = &deal.customer.access_token;
        let detail = self.get_with(&format!("/api/client/mitras/{}", deal.mitra.id), viewer).await;
        assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
        detail.body["rating"].clone()
    }

    async fn rating_in_browse(&self, deal: &Deal) -> Value {
        let listed = self.get_with("/api/client/mitras", &deal.customer.access_token).await;
        let items = listed.body["items"].as_array().unwrap();
        let mitra = items.iter().find(|m| m["id"] == deal.mitra.id.to_string()).expect("the mitra is listed");
        mitra["rating"].clone()
    }

    async fn completed_deal(&self, mitra: &halo_shared::testing::fixtures::ListedMitra) -> Deal {
        let deal = self.paid_deal_with(mitra).await;
        self.complete(&deal).await;
        deal
    }
}

#[tokio::test]
async fn each_side_reviews_a_completed_order_once_and_both_are_published_when_both_have() {
    let app = spawn_app_with(relaxed()).await;
    let deal = app.paid_deal().await;
    app.fixtures().name_customer(&deal.customer, "Budi").await;
    let early = app.review_as_customer(&deal, 5, None).await;
    assert_eq!((early.status, early.error_code()), (StatusCode::CONFLICT, "invalid_state"), "not completed yet");
    app.complete(&deal).await;
    for bad in [0, 6] {
        assert_eq!(app.review_as_customer(&deal, bad, None).await.status, StatusCode::BAD_REQUEST, "rating {bad}");
    }
    let long = "x".repeat(1001);
    assert_eq!(app.review_as_customer(&deal, 5, Some(&long)).await.status, StatusCode::BAD_REQUEST);

    let mine = app.review_as_customer(&deal, 5, Some("Pijatnya mantap")).await;
    assert_eq!(mine.status, StatusCode::CREATED, "{}", mine.body);
    assert_eq!(
        (mine.body["reviewer"].as_str(), mine.body["published"].as_bool(), mine.body["rating"].as_i64()),
        (Some("customer"), Some(false), Some(5))
    );
    let twice = app.review_as_customer(&deal, 4, None).await;
    assert_eq!((twice.status, twice.error_code()), (StatusCode::CONFLICT, "conflict"));

    // Blind: the mitra sees nothing of it, and it counts nowhere yet.
    let mitra_view = app.get_with(&deal.mitra_path(""), &deal.mitra.token).await;
    assert_eq!(mitra_view.body["reviews"], json!({ "mine": null, "theirs": null }));
    let customer_view = app.get_with(&deal.client(""), &deal.customer.access_token).await;
    assert_eq!(customer_view.body["reviews"]["mine"]["id"], mine.body["id"]);
    assert!(customer_view.body["reviews"]["theirs"].is_null());
    assert!(customer_view.body.get("customer_rating").is_none(), "only the mitra's view has it");
    assert_eq!(app.rating_in_detail(&deal).await, json!({ "average": null, "count": 0 }));
    let reviews_path = format!("/api/client/mitras/{}/reviews", deal.mitra.id);
    let none = app.get_with(&reviews_path, &deal.customer.access_token).await;
    assert_eq!(none.body["items"], json!([]));

    let theirs = app.review_as_mitra(&deal, 4).await;
    assert_eq!((theirs.status, theirs.body["published"].as_bool()), (StatusCode::CREATED, Some(true)));
    let customer_view = app.get_with(&deal.client(""), &deal.customer.access_token).await;
    assert_eq!(customer_view.body["reviews"]["theirs"]["rating"], 4);
    assert_eq!(customer_view.body["reviews"]["mine"]["published"], true);
    let mitra_view = app.get_with(&deal.mitra_path(""), &deal.mitra.token).await;
    assert_eq!(mitra_view.body["reviews"]["theirs"]["comment"], "Pijatnya mantap");
    assert_eq!(mitra_view.body["customer_rating"], json!({ "average": 4.0, "count": 1 }));
    assert_eq!(app.rating_in_detail(&deal).await, json!({ "average": 5.0, "count": 1 }));
    assert_eq!(app.rating_in_browse(&deal).await, json!({ "average": 5.0, "count": 1 }));
    let listed = app.get_with(&reviews_path, &deal.customer.access_token).await;
    assert_eq!(listed.body["items"][0]["reviewer_name"], "Budi");
    assert_eq!(listed.body["items"][0]["comment"], "Pijatnya mantap");
}

#[tokio::test]
async fn a_lone_review_is_published_once_the_window_passes_and_no_review_is_taken_after_it() {
    let app = spawn_app_with(relaxed()).await;
    let deal = app.paid_deal().await;
    app.complete(&deal).await;
    assert_eq!(app.review_as_customer(&deal, 3, Some("Biasa saja")).await.status, StatusCode::CREATED);
    assert_eq!(app.rating_in_detail(&deal).await["count"], 0);

    // Eight days after completion (the clock moved on: the order completed earlier).
    sqlx::query("UPDATE orders SET completed_at = completed_at - interval '8 days' WHERE id = $1")
        .bind(deal.order)
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(app.rating_in_detail(&deal).await, json!({ "average": 3.0, "count": 1 }), "published at read time");
    let mitra_view = app.get_with(&deal.mitra_path(""), &deal.mitra.token).await;
    assert_eq!(mitra_view.body["reviews"]["theirs"]["published"], true);
    let late = app.review_as_mitra(&deal, 5).await;
    assert_eq!((late.status, late.error_code()), (StatusCode::CONFLICT, "invalid_state"), "the window is over");
}

#[tokio::test]
async fn a_refunded_order_that_had_completed_stays_reviewable() {
    let app = spawn_app_with(relaxed()).await;
    let deal = app.paid_deal().await;
    app.complete(&deal).await;
    sqlx::query("UPDATE orders SET status = 'refunded' WHERE id = $1")
        .bind(deal.order)
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(app.review_as_customer(&deal, 2, None).await.status, StatusCode::CREATED);
    let declined = app.paid_deal().await;
    let reply = app.bearer_send("POST", &declined.mitra_path("/decline"), &declined.mitra.token, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let never = app.review_as_customer(&declined, 1, None).await;
    assert_eq!((never.status, never.error_code()), (StatusCode::CONFLICT, "invalid_state"), "never completed");
}

#[tokio::test]
async fn a_hidden_review_leaves_the_listing_and_the_averages_and_is_audited() {
    let app = spawn_app_with(relaxed()).await;
    let mitra = app.fixtures().listed_mitra("Sari").await;
    let kind = app.completed_deal(&mitra).await;
    let abusive = app.completed_deal(&mitra).await;
    app.review_as_customer(&kind, 5, Some("Bagus")).await;
    app.review_as_mitra(&kind, 5).await;
    let bad = app.review_as_customer(&abusive, 1, Some("kata kasar")).await.str("id");
    app.review_as_mitra(&abusive, 5).await;
    assert_eq!(app.rating_in_detail(&kind).await, json!({ "average": 3.0, "count": 2 }));

    let staff = app.fixtures().staff_actor(Role::Agent).await;
    let hidden = reviews::hide(&app.db.pool, &staff, bad.parse().unwrap(), "abusive", 7).await.unwrap();
    assert_eq!(hidden.rating, 1);
    assert_eq!(app.rating_in_detail(&kind).await, json!({ "average": 5.0, "count": 1 }));
    assert_eq!(app.rating_in_browse(&kind).await, json!({ "average": 5.0, "count": 1 }));
    let listed = app.get_with(&format!("/api/client/mitras/{}/reviews", mitra.id), &kind.customer.access_token).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["items"][0]["comment"], "Bagus");
    reviews::hide(&app.db.pool, &staff, bad.parse().unwrap(), "again", 7).await.unwrap();
    let audited: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_log WHERE target_type = 'review'")
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(audited, ["review.hide"], "audited once");
}

#[tokio::test]
async fn averages_equal_the_published_rows_after_concurrent_reviews() {
    let app = spawn_app_with(relaxed()).await;
    let mitra = app.fixtures().listed_mitra("Sari").await;
    let mut deals = Vec::new();
    for _ in 0..6 {
        deals.push(app.completed_deal(&mitra).await);
    }
    let ratings = [5, 4, 4, 3, 5, 2];
    let app = &app;
    let both = deals.iter().zip(ratings).map(|(deal, rating)| async move {
        let (a, b) = tokio::join!(app.review_as_customer(deal, rating, None), app.review_as_mitra(deal, 5));
        (a.status, b.status)
    });
    let statuses = futures_util::future::join_all(both).await;
    assert!(statuses.iter().all(|s| *s == (StatusCode::CREATED, StatusCode::CREATED)), "{statuses:?}");
    let unpublished: i64 = sqlx::query_scalar("SELECT count(*) FROM reviews WHERE published_at IS NULL")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(unpublished, 0, "racing second reviews never both miss each other");
    let from_rows: (f64, i64) = sqlx::query_as(
        "SELECT round(avg(r.rating), 1)::float8, count(*) FROM reviews r JOIN orders o ON o.id = r.order_id
         WHERE o.mitra_id = $1 AND r.reviewer = 'customer' AND r.hidden_at IS NULL AND r.published_at IS NOT NULL",
    )
    .bind(mitra.id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(from_rows, (3.8, 6));
    assert_eq!(app.rating_in_detail(&deals[0]).await, json!({ "average": 3.8, "count": 6 }));
}

#[tokio::test]
async fn a_mitras_reviews_are_for_customers_only_and_an_unlisted_mitra_is_404() {
    let app = spawn_app_with(relaxed()).await;
    let deal = app.paid_deal().await;
    let path = format!("/api/client/mitras/{}/reviews", deal.mitra.id);
    assert_eq!(app.get_with(&path, &deal.customer.access_token).await.status, StatusCode::OK);
    assert_eq!(app.get_with(&path, &deal.mitra.token).await.status, StatusCode::FORBIDDEN, "a mitra token");
    assert_eq!(app.get_with(&path, &app.staff_token()).await.status, StatusCode::FORBIDDEN, "a staff token");
    let anonymous = crate::helpers::send(app.client.get(&path)).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let pending = app.fixtures().pending_mitra("Belum").await;
    let unlisted_path = format!("/api/client/mitras/{}/reviews", pending.id);
    let unlisted = app.get_with(&unlisted_path, &deal.customer.access_token).await;
    assert_eq!(unlisted.status, StatusCode::NOT_FOUND);
    let bad_cursor = app.get_with(&format!("{path}?cursor=nonsense"), &deal.customer.access_token).await;
    assert_eq!(bad_cursor.status, StatusCode::BAD_REQUEST);
}
