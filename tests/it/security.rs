//! The attack review's holes and weaknesses, each shown closed through the real server:
//! nesting that would exhaust a stack, catalog ownership across support groups, access
//! changes reaching open subscriptions, development secrets, write-only tokens, password
//! guessing, rate limits on operations, audit cost, lock-outs, anonymous hints, the existence
//! oracle and what disabling an account does to its tokens.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::support::{TestApp, Ws, next_message};

/// Documents nested far past any stack, one per position in a document.
fn nested_documents() -> Vec<(&'static str, String)> {
    let n = 5_000;
    let (open, close) = ("[".repeat(n), "]".repeat(n));
    vec![
        (
            "list value",
            format!("{{ hosts(filter: {{ tagsAny: {open}\"a\"{close} }}) {{ totalCount }} }}"),
        ),
        (
            "input object",
            format!(
                "{{ hosts(filter: {}{}) {{ totalCount }} }}",
                "{ not: ".repeat(n),
                "}".repeat(n)
            ),
        ),
        (
            "selection",
            format!(
                "{{ {}{} }}",
                "hosts { edges { node { ".repeat(n / 3),
                "} } }".repeat(n / 3)
            ),
        ),
        (
            "inline fragment",
            format!(
                "{{ {}__typename{} }}",
                "... on Query { ".repeat(n),
                "}".repeat(n)
            ),
        ),
        (
            "directive argument",
            format!("{{ me @include(if: {open}true{close}) {{ username }} }}"),
        ),
        (
            "variable type",
            format!("query($v: {open}Int{close}) {{ me {{ username }} }}"),
        ),
        (
            "variable default",
            format!("query($v: [Int] = {open}1{close}) {{ me {{ username }} }}"),
        ),
        (
            "fragment chain",
            (0..3_000)
                .map(|i| format!("fragment F{i} on Query {{ ...F{} }}\n", i + 1))
                .chain([
                    "fragment F3000 on Query { __typename }\n".to_owned(),
                    "{ ...F0 }".to_owned(),
                ])
                .collect(),
        ),
        (
            "fragment blow-up",
            (0..40)
                .map(|i| format!("fragment D{i} on Query {{ ...D{n} ...D{n} }}\n", n = i + 1))
                .chain([
                    "fragment D40 on Query { __typename }\n".to_owned(),
                    "{ ...D0 }".to_owned(),
                ])
                .collect(),
        ),
    ]
}

fn first_code(body: &Value) -> String {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<none>")
        .to_owned()
}

async fn open_socket(app: &TestApp, token: &str) -> Ws {
    let mut request = format!("ws://{}/graphql", app.server.addr)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgrade");
    let payload = if token.is_empty() {
        json!({})
    } else {
        json!({ "authorization": format!("Bearer {token}") })
    };
    ws.send(Message::text(
        json!({ "type": "connection_init", "payload": payload }).to_string(),
    ))
    .await
    .unwrap();
    let ack = next_message(&mut ws).await.expect("ack");
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    ws
}

async fn ws_send(ws: &mut Ws, id: &str, query: &str, variables: Value) {
    ws.send(Message::text(
        json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } })
            .to_string(),
    ))
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_documents_are_refused_in_every_position_and_the_server_keeps_serving() {
    let app = TestApp::spawn_with(|c| c.max_body_bytes = 4 * 1024 * 1024).await;
    for (what, query) in nested_documents() {
        let (status, body) = app.gql_as(None, &query, json!({})).await;
        assert_eq!(status, 200, "{what}: {body}");
        assert_eq!(first_code(&body), "QUERY_TOO_COMPLEX", "{what}: {body}");
        assert!(body["data"].is_null(), "{what}: nothing ran");
    }
    // The same nesting in JSON variables.
    let deep_json: Value =
        serde_json::from_str(&format!("{}1{}", "[".repeat(100), "]".repeat(100))).unwrap();
    let (status, body) = app
        .gql_as(
            None,
            "query($v: [String!]) { me { username } }",
            json!({ "v": deep_json }),
        )
        .await;
    assert!(body["errors"].is_array() || status >= 400, "{body}");
    let raw = format!(
        r#"{{"query":"{{ me {{ username }} }}","variables":{{"v":{}1{}}}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let res = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "deep JSON is refused before it is read");

    // Over the WebSocket, anonymous and signed in; the socket stays usable afterwards.
    for token in ["", app.token.as_str()] {
        let mut ws = open_socket(&app, token).await;
        for (i, (what, query)) in nested_documents().into_iter().enumerate() {
            ws_send(&mut ws, &i.to_string(), &query, json!({})).await;
            let msg = next_message(&mut ws).await.expect("an answer, socket open");
            let errors = if msg["type"] == "error" {
                msg["payload"].clone()
            } else {
                msg["payload"]["errors"].clone()
            };
            assert_eq!(
                errors[0]["extensions"]["code"], "QUERY_TOO_COMPLEX",
                "{what} over the socket: {msg}"
            );
            if msg["type"] == "next" {
                let done = next_message(&mut ws).await.expect("complete");
                assert_eq!(done["type"], "complete");
            }
        }
        ws_send(&mut ws, "ok", "{ __typename }", json!({})).await;
        let msg = next_message(&mut ws).await.expect("still serving");
        assert_eq!(msg["payload"]["data"]["__typename"], "Query", "{msg}");
    }

    // A later request succeeds.
    let data = app.ok("{ me { username } }", json!({})).await;
    assert_eq!(data["me"]["username"], "admin");
    app.stop().await;
}
