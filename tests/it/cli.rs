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
fn production_refuses_to_start_without_a_configured_secret() {
    let out = hector("sqlite::memory:")
        .args(["--env", "production"])
        .env_remove("HECTOR_JWT_SECRET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs HECTOR_JWT_SECRET"));
    let out = hector("sqlite::memory:")
        .args(["--env", "production"])
        .env("HECTOR_JWT_SECRET", "too-short")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 32 bytes"));
}

/// A `hector` server started from the binary on a free port, with its JSON log lines.
struct Spawned {
    child: std::process::Child,
    port: u16,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Spawned {
    /// Starts the binary on `url` (with `admin_password`, or a generated one when `None`) and
    /// waits until it listens; the lines read meanwhile are returned too.
    fn start(url: &str, admin_password: Option<&str>) -> (Self, Vec<String>) {
        use std::io::{BufRead, BufReader};
        use std::time::{Duration, Instant};

        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = hector(url);
        cmd.env("HECTOR_BIND", format!("127.0.0.1:{port}"))
            .env("HECTOR_LOG", "info")
            .env("HECTOR_LOG_FORMAT", "json")
            .stderr(std::process::Stdio::piped());
        match admin_password {
            Some(p) => cmd.env("HECTOR_ADMIN_PASSWORD", p),
            None => cmd.env_remove("HECTOR_ADMIN_PASSWORD"),
        };
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let Ok(line) = lines.recv_timeout(Duration::from_secs(1)) else {
                continue;
            };
            let listening = serde_json::from_str::<serde_json::Value>(&line)
                .is_ok_and(|v| v["message"] == "listening");
            seen.push(line);
            if listening {
                break;
            }
        }
        (Self { child, port, lines }, seen)
    }

    /// Asks the server to stop (SIGTERM).
    fn terminate(&self) -> bool {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_logs_a_random_admin_password_once_and_sigterm_stops_the_server() {
    use std::time::{Duration, Instant};

    let db = crate::support::TestDb::new().await;
    let (mut server, seen) = Spawned::start(&db.url, None);
    let password = seen
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|v| v["password"].as_str().map(str::to_owned));
    let port = server.port;
    let password = password.expect("the admin password is logged on first start");
    assert!(password.len() >= 16);

    let client = crate::support::http_client().build().expect("client");
    let body: serde_json::Value = client
        .post(format!("http://127.0.0.1:{port}/graphql"))
        .json(&json!({ "query": "mutation($p: String!) { login(input: {username: \"admin\", password: $p}) { user { role } } }", "variables": { "p": password } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"]["login"]["user"]["role"], "ADMIN", "{body}");

    let started = Instant::now();
    assert!(server.terminate());
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still running 5 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "a clean exit: {status:?}");
    // The password appears once: no later line repeats it.
    let later: Vec<String> = server
        .lines
        .try_iter()
        .filter(|l| l.contains(&password))
        .collect();
    assert!(later.is_empty(), "{later:?}");
}

/// The error lines a `hector` run wrote (JSON logs on standard error).
fn error_lines(out: &std::process::Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&out.stderr).lines())
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["level"] == "ERROR")
        .collect()
}

#[test]
fn a_database_that_cannot_be_reached_is_logged_once() {
    // A directory where the database file should be: every attempt to open it fails.
    let dir = tempfile::tempdir().unwrap();
    let out = hector(&format!("sqlite://{}?mode=rwc", dir.path().display()))
        .arg("migrate")
        .env("HECTOR_LOG_FORMAT", "json")
        .env("HECTOR_LOG", "warn")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let errors = error_lines(&out);
    assert_eq!(
        errors.len(),
        1,
        "one error line, where start-up ends: {errors:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_batch_load_is_logged_once_however_many_fields_wait_on_it() {
    use std::time::Duration;

    let db = crate::support::TestDb::new().await;
    let (mut server, _) = Spawned::start(&db.url, Some(crate::support::ADMIN_PASSWORD));
    let port = server.port;
    let client = crate::support::http_client().build().expect("client");
    let gql = |token: Option<String>, query: String| {
        let mut req = client
            .post(format!("http://127.0.0.1:{port}/graphql"))
            .json(&json!({ "query": query }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move {
            req.send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let login = gql(
        None,
        format!(
            "mutation {{ login(input: {{username: \"admin\", password: \"{}\"}}) {{ accessToken }} }}",
            crate::support::ADMIN_PASSWORD
        ),
    )
    .await;
    let token = login["data"]["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    for address in ["192.0.2.1", "192.0.2.2", "192.0.2.3"] {
        let query = format!(
            "mutation {{ createHost(input: {{address: \"{address}\", tags: [\"t\"]}}) {{ host {{ id }} }} }}"
        );
        gql(Some(token.clone()), query).await;
    }
    {
        use sea_orm::ConnectionTrait;
        let raw = sea_orm::Database::connect(db.url.as_str()).await.unwrap();
        raw.execute_unprepared("ALTER TABLE host_tag RENAME TO host_tag_broken")
            .await
            .unwrap();
        raw.close().await.ok();
    }
    while server.lines.try_recv().is_ok() {}
    let body = gql(
        Some(token),
        "{ hosts { edges { node { tags { name } } } } }".to_owned(),
    )
    .await;
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 3, "one error per host's field: {body}");
    std::thread::sleep(Duration::from_millis(500));
    let logged: Vec<serde_json::Value> = server
        .lines
        .try_iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
        .filter(|v| v["level"] == "ERROR")
        .collect();
    assert_eq!(
        logged.len(),
        1,
        "the failed batch is logged once: {logged:#?}"
    );
    server.terminate();
    let _ = server.child.wait();
}

/// `hector serve --help` lists the server's options and they are taken after the subcommand;
/// a one-off command logs no line per migration, no colour codes into a pipe, and its error
/// once.
#[tokio::test]
async fn the_command_line_reads_as_a_newcomer_expects() {
    let help = hector("sqlite::memory:")
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--bind") && help.contains("--max-depth"),
        "{help}"
    );

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("cli.db").display());
    let out = hector(&url)
        .env("HECTOR_LOG", "info")
        .args(["migrate", "--log-format", "pretty"])
        .output()
        .unwrap();
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{logs}");
    assert!(!logs.contains("Applying migration"), "{logs}");
    assert!(!logs.contains('\u{1b}'), "colour codes in a pipe: {logs:?}");
    assert!(logs.contains("database schema is current"), "{logs}");

    let out = hector(&url)
        .args(["token", "create", "nobody", "--name", "x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let errors = String::from_utf8_lossy(&out.stderr);
    assert_eq!(errors.matches("not found").count(), 1, "{errors}");
}
