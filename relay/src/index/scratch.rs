//! A fresh, empty index database for a test: a SQLite file in the test's folder, or,
//! when `DATAMGMT_TEST_POSTGRES` names a PostgreSQL server, a new database on it, so the
//! same suites run against both engines.

use std::path::Path;

/// The variable naming the PostgreSQL server the suites run against
/// (`postgres://user@127.0.0.1:port/postgres`); SQLite when unset.
pub const POSTGRES_VARIABLE: &str = "DATAMGMT_TEST_POSTGRES";

/// The URL of a new, empty index database for one test, kept under `dir` on SQLite.
pub async fn database_url(dir: &Path) -> String {
    match postgres_server() {
        Some(server) => new_postgres_database(&server).await,
        None => format!("sqlite://{}", dir.join("index.db").display()),
    }
}

/// A database in memory on SQLite, or a new one on the PostgreSQL server.
pub async fn ephemeral_url() -> String {
    match postgres_server() {
        Some(server) => new_postgres_database(&server).await,
        None => "sqlite::memory:".to_owned(),
    }
}

/// The PostgreSQL server [`POSTGRES_VARIABLE`] names, if it names one.
pub fn postgres_server() -> Option<String> {
    std::env::var(POSTGRES_VARIABLE).ok().filter(|server| !server.is_empty())
}

/// Creates a database with a random name on `server` and returns its URL.
async fn new_postgres_database(server: &str) -> String {
    use sqlx::{Connection, Executor};
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).expect("the system's random source");
    let name = format!("dmn_test_{:016x}", u64::from_le_bytes(random));
    let mut admin = sqlx::postgres::PgConnection::connect(server)
        .await
        .unwrap_or_else(|e| panic!("{POSTGRES_VARIABLE} server does not answer: {e}"));
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap_or_else(|e| panic!("creating the test database {name}: {e}"));
    let _ = admin.close().await;
    let mut url = url::Url::parse(server).expect("a postgres:// URL");
    url.set_path(&name);
    url.to_string()
}
