//! The `hector` command line: user and token management, and refusing unsafe production
//! settings.

use std::process::Command;

use serde_json::json;

use crate::support::TestApp;

fn hector(database_url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hector"));
    cmd.env("DATABASE_URL", database_url)
        .env("HECTOR_LOG", "error")
        .env_remove("HECTOR_ENV")
        .env_remove("HECTOR_JWT_SECRET");
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_and_tokens_are_managed_from_the_command_line() {
    let app = TestApp::spawn().await;
    let url = app.db.url.clone();
    let out = hector(&url)
        .args(["user", "add", "frank", "--role", "analyst"])
        .env("HECTOR_NEW_PASSWORD", "frank-password-123")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "created user frank (analyst)"
    );
    let login = app.login("frank", "frank-password-123").await;
    assert_eq!(login["data"]["login"]["user"]["role"], "ANALYST", "{login}");

    let out = hector(&url)
        .args(["user", "reset-password", "frank"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let generated = stdout
        .lines()
        .last()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        app.login("frank", "frank-password-123").await["errors"].is_array(),
        "the old password is gone"
    );
    assert!(app.login("frank", &generated).await["data"]["login"]["accessToken"].is_string());

    let out = hector(&url)
        .args([
            "token", "create", "frank", "--name", "soar", "--scopes", "read",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let secret = stdout.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(secret.starts_with("hct_"), "{stdout}");
    let (status, body) = app
        .gql_as(Some(&secret), "{ me { username } }", json!({}))
        .await;
    assert_eq!(
        (status, body["data"]["me"]["username"].clone()),
        (200, json!("frank"))
    );

    let out = hector(&url)
        .args(["user", "add", "x", "--role", "root"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "an unknown role is refused");
    app.stop().await;
}

#[test]
fn production_refuses_to_start_with_the_development_secret() {
    let out = hector("sqlite::memory:")
        .args(["--env", "production"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("development JWT secret"));
}
