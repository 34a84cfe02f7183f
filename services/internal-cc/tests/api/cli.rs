//! `internal-cc create-cc-user`, run as the operator would.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use halo_shared::testing::{self, TestDb};
use uuid::Uuid;

fn create_cc_user(db: &TestDb, password_env: Option<&str>, stdin: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_internal-cc"));
    cmd.env_clear().env("DATABASE_URL", db.url()).env("PASSWORD_BCRYPT_COST", "4").env("LOG_FORMAT", "json");
    if let Some(password) = password_env {
        cmd.env("CC_USER_PASSWORD", password);
    }
    let mut child = cmd
        .arg("create-cc-user")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
    child.wait_with_output().expect("wait")
}

#[tokio::test]
async fn create_cc_user_prints_the_new_id_and_stores_a_hashed_password() {
    let db = testing::fresh_database().await;
    let out = create_cc_user(
        &db,
        Some("a long enough password"),
        "",
        &["--email", "Boss@HaloBestie.id", "--role", "admin", "--display-name", "Boss"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id: Uuid = String::from_utf8(out.stdout).unwrap().trim().parse().expect("prints a uuid");
    let (email, role, name, hash): (String, String, Option<String>, String) =
        sqlx::query_as("SELECT email, role, display_name, password_hash FROM cc_users WHERE id = $1")
            .bind(id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((email.as_str(), role.as_str(), name.as_deref()), ("boss@halobestie.id", "admin", Some("Boss")));
    assert!(hash.starts_with("$2") && !hash.contains("a long enough password"));
    assert!(bcrypt::verify("a long enough password", &hash).unwrap());
}

#[tokio::test]
async fn create_cc_user_reads_the_password_from_stdin_when_the_variable_is_unset() {
    let db = testing::fresh_database().await;
    let out = create_cc_user(&db, None, "from stdin 123456\n", &["--email", "agent@halobestie.id", "--role", "agent"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM cc_users").fetch_one(&db.pool).await.unwrap();
    assert!(bcrypt::verify("from stdin 123456", &hash).unwrap());
}

#[tokio::test]
async fn create_cc_user_refuses_a_duplicate_email() {
    let db = testing::fresh_database().await;
    let args = ["--email", "dup@halobestie.id", "--role", "agent"];
    assert!(create_cc_user(&db, Some("first password 1"), "", &args).status.success());
    let out = create_cc_user(&db, Some("second password 2"), "", &["--email", "DUP@halobestie.id", "--role", "admin"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already exists"), "{stderr}");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM cc_users").fetch_one(&db.pool).await.unwrap();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn create_cc_user_refuses_a_password_under_12_characters() {
    let db = testing::fresh_database().await;
    let out = create_cc_user(&db, Some("short"), "", &["--email", "s@halobestie.id", "--role", "agent"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 12 characters"));
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM cc_users").fetch_one(&db.pool).await.unwrap();
    assert_eq!(count, 0);
}
