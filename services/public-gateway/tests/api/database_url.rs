//! Every libpq form of a unix-socket `DATABASE_URL` starts the binary against the real
//! local server's socket (Cloud SQL on Cloud Run is reached this way).

use std::process::Command;

use halo_shared::testing;
use sqlx::Connection;

const BIN: &str = env!("CARGO_BIN_EXE_public-gateway");

/// The test server's first socket directory, its port and the role tests use.
async fn local_socket(db: &testing::TestDb) -> (String, u16, String) {
    let dirs: String = sqlx::query_scalar("SHOW unix_socket_directories").fetch_one(&db.pool).await.expect("show");
    let dir = dirs.split(',').map(str::trim).find(|d| d.starts_with('/')).expect("a unix socket directory").to_owned();
    (dir, db.options.get_port(), db.options.get_username().to_owned())
}

fn migrate_with(url: &str) -> std::process::Output {
    Command::new(BIN).env_clear().env("DATABASE_URL", url).arg("migrate").output().expect("run binary")
}

#[tokio::test]
async fn every_libpq_unix_socket_url_form_connects_to_the_real_socket() {
    let db = testing::fresh_database().await;
    let (dir, port, user) = local_socket(&db).await;
    let encoded_dir = dir.replace('/', "%2F");
    let name = &db.name;
    let forms = [
        // The Cloud SQL form in deploy/README.md: user-info, empty host, `?host=/dir`.
        format!("postgres://{user}:unused@/{name}?host={dir}&port={port}"),
        format!("postgres:///{name}?host={dir}&port={port}&user={user}"),
        format!("postgresql://{user}@{encoded_dir}:{port}/{name}"),
    ];
    for url in &forms {
        // Connected over the socket: Postgres has no client address for a unix socket.
        let options = halo_shared::db::connect_options(url).expect("parses");
        let mut conn = sqlx::PgConnection::connect_with(&options).await.unwrap_or_else(|e| panic!("{url}: {e}"));
        let (via_socket, database): (bool, String) =
            sqlx::query_as("SELECT inet_client_addr() IS NULL, current_database()")
                .fetch_one(&mut conn)
                .await
                .expect("query");
        assert!(via_socket, "{url} did not use the unix socket");
        assert_eq!(&database, name);
        // And the binary itself starts with it.
        let out = migrate_with(url);
        assert!(out.status.success(), "{url}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[tokio::test]
async fn a_socket_url_whose_directory_has_no_server_fails_with_a_connection_error() {
    let db = testing::fresh_database().await;
    let (_, port, user) = local_socket(&db).await;
    let out = migrate_with(&format!("postgres://{user}@/{}?host=/nonexistent-socket-dir&port={port}", db.name));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("empty host"), "{stderr}");
    assert!(stderr.contains("No such file") || stderr.contains("connect"), "{stderr}");
}
