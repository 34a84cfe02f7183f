//! Rotating AUTH_JWT_SECRET on the control center: staff stay signed in.

use halo_shared::state::ControlCenterSettings;
use halo_shared::testing::{self, JWT_SECRET};
use halo_shared::tokens::Keys;
use halo_shared::users::staff::Role;
use poem::http::StatusCode;

use crate::helpers::{app_with_keys, refresh_cookie, spawn_app, PASSWORD, SPA};

const NEW_SECRET: &[u8] = b"the-new-secret-after-rotation-0123456789";

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.expect("a kid")
}

#[tokio::test]
async fn staff_tokens_and_cookies_survive_a_rotation_and_die_with_the_removed_key() {
    let before = spawn_app().await;
    before.create_staff("rota@halobestie.id", Role::Admin).await;
    let login = before.login("rota@halobestie.id", PASSWORD).await;
    let settings =
        || ControlCenterSettings { cc_allowed_origins: vec![SPA.into()], ..testing::control_center_settings() };

    let after = app_with_keys(before.db.clone(), Keys::with_previous(NEW_SECRET, &[JWT_SECRET]), settings()).await;
    let me = after.get_with("/internal/auth/me", &login.str("access_token")).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    let refreshed = after.refresh_with_cookie(&refresh_cookie(&login)).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    assert_eq!(kid_of(&refreshed.str("access_token")), Keys::new(NEW_SECRET).current_kid());

    let removed = app_with_keys(before.db.clone(), Keys::new(NEW_SECRET), settings()).await;
    let old = removed.get_with("/internal/auth/me", &login.str("access_token")).await;
    assert_eq!((old.status, old.error_code()), (StatusCode::UNAUTHORIZED, "invalid_token"));
    let new = removed.get_with("/internal/auth/me", &refreshed.str("access_token")).await;
    assert_eq!(new.status, StatusCode::OK);
}
