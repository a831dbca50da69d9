//! `TestApp`: a server of our own on a fresh database, and a GraphQL client for it.

use std::time::Duration;

use api::config::Config;
use api::{Server, start};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// The MySQL/MariaDB server to test against, if any (e.g. `mysql://root@127.0.0.1:3306`).
pub fn mysql_base() -> Option<String> {
    std::env::var("HECTOR_TEST_MYSQL_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

/// An HTTP client for tests: a request gives up after 30 s, and an idle pooled
/// connection is dropped well before the server would close it, so a request is
/// never sent on a connection the server is closing at that moment.
pub fn http_client() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_idle_timeout(Duration::from_secs(20))
}

/// An empty SQLite database with every migration applied, made once per test run.
async fn sqlite_template() -> &'static std::path::Path {
    static TEMPLATE: tokio::sync::OnceCell<std::path::PathBuf> = tokio::sync::OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| async {
            let dir = tempfile::tempdir().expect("temp dir").keep();
            let file = dir.join("template.db");
            let url = format!("sqlite://{}?mode=rwc", file.display());
            let db = sea_orm::Database::connect(url.as_str())
                .await
                .expect("template database");
            api::db::migrate(&db, "test-template")
                .await
                .expect("migrate the template");
            db.close().await.expect("close the template");
            file
        })
        .await
}

/// Creates an empty MySQL database `name` on the server at `base`.
async fn create_mysql_database(base: &str, name: &str) {
    use sea_orm::ConnectionTrait;
    let admin = sea_orm::Database::connect(base)
        .await
        .expect("connect to HECTOR_TEST_MYSQL_URL");
    admin
        .execute_unprepared(&format!(
            "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        ))
        .await
        .expect("create a test database");
    admin.close().await.ok();
}

/// A MySQL database with every migration applied, made once per test run; its name.
async fn mysql_template(base: &str) -> &'static str {
    static TEMPLATE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| async {
            let name = format!("hector_tpl_{:016x}", rand::random::<u64>());
            create_mysql_database(base, &name).await;
            let url = format!("{}/{name}", base.trim_end_matches('/'));
            let db = sea_orm::Database::connect(url.as_str())
                .await
                .expect("template database");
            api::db::migrate(&db, "test-template")
                .await
                .expect("migrate the template");
            db.close().await.ok();
            name
        })
        .await
}

/// Creates `name` as a copy of the migrated template: each table's own `CREATE TABLE`
/// (foreign keys included, which `CREATE TABLE ... LIKE` would drop) and its rows.
async fn copy_mysql_template(base: &str, name: &str) {
    use sea_orm::{ConnectOptions, ConnectionTrait, Statement};
    let template = mysql_template(base).await;
    // One connection, so that `USE` and `FOREIGN_KEY_CHECKS` hold for every statement.
    let mut opts = ConnectOptions::new(base.to_owned());
    opts.max_connections(1).sqlx_logging(false);
    let admin = sea_orm::Database::connect(opts)
        .await
        .expect("connect to HECTOR_TEST_MYSQL_URL");
    let run = |sql: String| {
        let admin = &admin;
        async move {
            admin
                .execute_unprepared(&sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    };
    create_mysql_database(base, name).await;
    run("SET FOREIGN_KEY_CHECKS = 0".into()).await;
    run(format!("USE {name}")).await;
    let backend = admin.get_database_backend();
    let tables = admin
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = ?",
            [template.into()],
        ))
        .await
        .expect("list the template's tables");
    for row in tables {
        let table: String = row.try_get("", "t").expect("table name");
        let shown = admin
            .query_one_raw(Statement::from_string(
                backend,
                format!("SHOW CREATE TABLE {template}.`{table}`"),
            ))
            .await
            .expect("show create table")
            .expect("a create statement");
        let create: String = shown.try_get_by_index(1).expect("create statement");
        run(create).await;
        run(format!(
            "INSERT INTO `{table}` SELECT * FROM {template}.`{table}`"
        ))
        .await;
    }
    admin.close().await.ok();
}

/// A fresh, empty database for one test.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A database with every migration applied.
    pub async fn new() -> Self {
        Self::fresh(true).await
    }

    /// A database with nothing in it, not even migrations.
    pub async fn empty() -> Self {
        Self::fresh(false).await
    }

    /// A new database of the test's own: a copy of the template migrated once per run (so a
    /// test costs a copy, not a migration), or empty.
    async fn fresh(migrated: bool) -> Self {
        match mysql_base() {
            Some(base) => {
                let name = format!("hector_t_{:016x}", rand::random::<u64>());
                if migrated {
                    copy_mysql_template(&base, &name).await;
                } else {
                    create_mysql_database(&base, &name).await;
                }
                Self {
                    url: format!("{}/{name}", base.trim_end_matches('/')),
                    _dir: None,
                }
            }
            None => {
                let dir = tempfile::tempdir().expect("temp dir");
                let file = dir.path().join("hector.db");
                if migrated {
                    std::fs::copy(sqlite_template().await, &file).expect("copy the template");
                }
                Self {
                    url: format!("sqlite://{}?mode=rwc", file.display()),
                    _dir: Some(dir),
                }
            }
        }
    }

    pub fn is_mysql(&self) -> bool {
        self.url.starts_with("mysql:")
    }
}

pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

pub fn config_for(url: &str) -> Config {
    let mut config = Config::from_env().expect("default config");
    config.database_url = url.parse().expect("database url");
    config.event_poll_ms = 50;
    config.admin_password = Some(ADMIN_PASSWORD.parse().unwrap());
    config.rate_limit_per_minute = 0;
    config.log = std::env::var("HECTOR_TEST_LOG").unwrap_or_else(|_| "warn".into());
    config
}

pub struct TestApp {
    pub server: Server,
    pub base: String,
    pub client: reqwest::Client,
    pub db: TestDb,
    /// The access token of the first admin, which [`gql`] sends.
    pub token: String,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts a server on a fresh database with the configuration changed by `tweak`.
    pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let db = TestDb::new().await;
        let mut config = config_for(&db.url);
        tweak(&mut config);
        let server = Self::start_on(config).await;
        Self::around(server, db).await
    }

    pub async fn start_on(config: Config) -> Server {
        api::telemetry::init(&config);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        start(listener, config).await.expect("server starts")
    }

    /// Wraps a running server and signs in as the first admin.
    pub async fn around(server: Server, db: TestDb) -> Self {
        let base = format!("http://{}", server.addr);
        let client = http_client().build().expect("client");
        let mut app = Self {
            server,
            base,
            client,
            db,
            token: String::new(),
        };
        let login = app.login("admin", ADMIN_PASSWORD).await;
        app.token = login["data"]["login"]["accessToken"]
            .as_str()
            .unwrap_or_else(|| panic!("admin signs in: {login}"))
            .to_owned();
        app
    }

    /// Calls `login` and returns the whole response.
    pub async fn login(&self, username: &str, password: &str) -> Value {
        let (_, body) = self
            .gql_as(
                None,
                "mutation($u: String!, $p: String!) { login(input: {username: $u, password: $p}) { accessToken refreshToken expiresAt user { id username role } } }",
                json!({ "u": username, "p": password }),
            )
            .await;
        body
    }

    /// Posts a GraphQL request with `token` (if any); returns the HTTP status and the body.
    pub async fn gql_as(&self, token: Option<&str>, query: &str, variables: Value) -> (u16, Value) {
        let mut req = self
            .client
            .post(format!("{}/graphql", self.base))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.expect("json body"))
    }

    /// Posts a GraphQL request as the admin and returns the whole JSON response.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        let (status, body) = self.gql_as(Some(&self.token), query, variables).await;
        assert_eq!(status, 200, "GraphQL over HTTP answers 200: {body}");
        body
    }

    /// Like [`gql`], but fails the test on any error and returns `data`.
    pub async fn ok(&self, query: &str, variables: Value) -> Value {
        let body = self.gql(query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
        body["data"].clone()
    }

    /// The codes of the errors of a response that must have failed.
    pub async fn error_codes(&self, query: &str, variables: Value) -> Vec<String> {
        let body = self.gql(query, variables).await;
        let errors = body["errors"].as_array().cloned().unwrap_or_default();
        assert!(!errors.is_empty(), "expected errors, got {body:#}");
        errors
            .iter()
            .map(|e| {
                e["extensions"]["code"]
                    .as_str()
                    .unwrap_or("<none>")
                    .to_owned()
            })
            .collect()
    }

    pub async fn create_host(&self, address: &str, names: &[&str], tags: &[&str]) -> String {
        let data = self
            .ok(
                "mutation($i: CreateHostInput!) { createHost(input: $i) { host { id } } }",
                json!({ "i": { "address": address, "names": names, "tags": tags } }),
            )
            .await;
        data["createHost"]["host"]["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }

    pub async fn host_count(&self) -> u64 {
        let data = self
            .ok("{ hosts(first: 1) { totalCount } }", json!({}))
            .await;
        data["hosts"]["totalCount"].as_u64().expect("count")
    }

    pub async fn stop(self) {
        self.server.stop().await.expect("clean stop");
    }
}

/// Addresses of a `hosts` connection, in order.
pub fn addresses(conn: &Value) -> Vec<String> {
    conn["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["address"].as_str().expect("address").to_owned())
        .collect()
}

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// `connection_init` payload: the credential, or nothing for an anonymous socket.
fn init_payload(token: &str) -> Value {
    if token.is_empty() {
        json!({})
    } else {
        json!({ "authorization": format!("Bearer {token}") })
    }
}

/// Opens a `graphql-transport-ws` connection and signs in with `token` (anonymous when empty);
/// returns once the server acknowledged `connection_init`.
pub async fn open_socket(addr: std::net::SocketAddr, token: &str) -> Ws {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let mut request = format!("ws://{addr}/graphql")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut ws, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgrade");
    assert_eq!(
        response.headers().get("sec-websocket-protocol").unwrap(),
        "graphql-transport-ws"
    );
    ws.send(Message::text(
        json!({ "type": "connection_init", "payload": init_payload(token) }).to_string(),
    ))
    .await
    .unwrap();
    let ack = next_message(&mut ws).await.expect("ack");
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    ws
}

/// Opens a `graphql-transport-ws` connection signed in with `token` and starts `query` as
/// subscription `1`.
pub async fn subscribe(
    addr: std::net::SocketAddr,
    token: &str,
    query: &str,
    variables: Value,
) -> Ws {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;

    let mut ws = open_socket(addr, token).await;
    ws.send(Message::text(
        json!({ "id": "1", "type": "subscribe", "payload": { "query": query, "variables": variables } })
            .to_string(),
    ))
    .await
    .unwrap();
    // Let the server register the subscription before the test changes anything.
    tokio::time::sleep(Duration::from_millis(300)).await;
    ws
}

/// The next protocol message (answering pings), or `None` when the socket closed.
pub async fn next_message(ws: &mut Ws) -> Option<Value> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message within 10 s")?;
        match msg.ok()? {
            Message::Text(text) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["type"] == "ping" {
                    ws.send(Message::text(json!({ "type": "pong" }).to_string()))
                        .await
                        .ok()?;
                    continue;
                }
                return Some(value);
            }
            Message::Close(_) => return None,
            _ => continue,
        }
    }
}

/// The payload of the next `next` message of subscription `1`.
pub async fn next_event(ws: &mut Ws) -> Value {
    let msg = next_message(ws).await.expect("socket open");
    assert_eq!(msg["type"], "next", "unexpected message {msg:#}");
    assert!(msg["payload"].get("errors").is_none(), "errors: {msg:#}");
    msg["payload"]["data"].clone()
}

pub const PASSWORD: &str = "a-long-test-password";

pub fn gid(kind: &str, n: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{n}"))
}

/// Creates a user with `role` (and support groups) as the admin, signs in, returns the
/// access token and the refresh token.
pub async fn user(app: &TestApp, name: &str, role: &str, groups: &[&str]) -> (String, String) {
    app.ok(
        "mutation($i: CreateUserInput!) { createUser(input: $i) { user { id } } }",
        json!({ "i": { "username": name, "role": role, "password": PASSWORD, "supportGroupIds": groups } }),
    )
    .await;
    let login = app.login(name, PASSWORD).await;
    let tokens = &login["data"]["login"];
    (
        tokens["accessToken"]
            .as_str()
            .unwrap_or_else(|| panic!("{login}"))
            .to_owned(),
        tokens["refreshToken"].as_str().unwrap().to_owned(),
    )
}

pub async fn api_token(app: &TestApp, as_token: &str, scopes: &[&str]) -> String {
    let (_, body) = app
        .gql_as(
            Some(as_token),
            "mutation($s: [TokenScope!]!) { createApiToken(input: {name: \"t\", scopes: $s}) { secret apiToken { prefix } } }",
            json!({ "s": scopes }),
        )
        .await;
    let secret = body["data"]["createApiToken"]["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"));
    assert!(secret.starts_with("hct_"));
    assert!(
        secret.starts_with(
            body["data"]["createApiToken"]["apiToken"]["prefix"]
                .as_str()
                .unwrap()
        )
    );
    secret.to_owned()
}
