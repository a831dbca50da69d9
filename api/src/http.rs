//! HTTP wiring only: routes, the GraphQL endpoint (POST, GraphiQL on GET, WebSocket on
//! upgrade), health and readiness. Requests get an id and a span from `tracing-actix-web`.

use std::str::FromStr;
use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason};
use async_graphql::http::{WebSocket, WebSocketProtocols, WsMessage};
use async_graphql::{BatchRequest, BatchResponse, Data};
use futures_util::StreamExt;
use serde_json::json;
use tokio_stream::wrappers::ReceiverStream;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use crate::actor::{ClientAddr, Identity, Principal, Recheck, Watched};
use crate::auth::{self};
use crate::db;
use crate::error::{AppError, code};
use crate::rate::{RateLimiter, SocketSlot};
use crate::schema::{HectorSchema, Schemas};
use crate::state::AppState;

mod darknet;
mod upload;
use upload::{graphql_multipart, ingest_nmap, is_multipart};

/// Largest WebSocket message accepted.
const MAX_WS_MESSAGE: usize = 256 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/graphql")
            .route(web::post().to(graphql_post))
            .route(web::get().to(graphql_get))
            .route(web::head().to(graphql_head)),
    )
    .route(
        "/graphiql/assets/{name}",
        web::get().to(crate::graphiql::asset),
    )
    .route("/ingest/nmap", web::post().to(ingest_nmap))
    .route("/ingest/findings", web::post().to(upload::ingest_findings))
    .route("/ingest/darknet", web::post().to(darknet::ingest_darknet))
    .route("/healthz", web::get().to(healthz))
    .route("/readyz", web::get().to(readyz))
    .route("/metrics", web::get().to(metrics));
}

/// 503 `INTERNAL` with `Retry-After`: the failure is ours (the database is away), so the
/// client keeps its credential and tries again.
fn unavailable() -> HttpResponse {
    let mut response = error_body(
        actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
        code::INTERNAL,
        "internal error; try again",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

fn error_body(status: actix_web::http::StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({
        "errors": [{ "message": message, "extensions": { "code": code } }]
    }))
}

/// Reads the body, refusing it with 413 as soon as it is known to be over `limit` (at once from
/// `Content-Length`, else while streaming, never holding more than `limit` bytes) and with 408
/// when it has not all arrived within `deadline`.
async fn read_body(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
    deadline: Duration,
) -> Result<web::Bytes, HttpResponse> {
    match tokio::time::timeout(deadline, read_body_within(req, payload, limit)).await {
        Ok(read) => read,
        Err(_) => {
            let mut response = error_body(
                actix_web::http::StatusCode::REQUEST_TIMEOUT,
                code::BAD_USER_INPUT,
                &format!(
                    "the request body did not arrive within {} s",
                    deadline.as_secs()
                ),
            );
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            Err(response)
        }
    }
}

async fn read_body_within(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, HttpResponse> {
    let too_large = || {
        error_body(
            actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
            code::BAD_USER_INPUT,
            &format!("request body is larger than {limit} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(0).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| {
            error_body(
                actix_web::http::StatusCode::BAD_REQUEST,
                code::BAD_USER_INPUT,
                "could not read the request body",
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

async fn graphql_post(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    schemas: web::Data<Schemas>,
) -> HttpResponse {
    if is_multipart(&req) {
        return graphql_multipart(req, payload, state, schemas).await;
    }
    // JSON only: a browser form cannot send it cross-site without a CORS preflight.
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if !json {
        return error_body(
            actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code::BAD_USER_INPUT,
            "send GraphQL requests as application/json",
        );
    }
    let deadline = Duration::from_secs(state.config.body_timeout_secs);
    let body = match read_body(&req, payload, state.config.max_body_bytes, deadline).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let batch: BatchRequest = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(_) => {
            return error_body(
                actix_web::http::StatusCode::BAD_REQUEST,
                code::BAD_USER_INPUT,
                "the body is not a GraphQL request in JSON",
            );
        }
    };
    if let BatchRequest::Batch(requests) = &batch
        && requests.len() > 10
    {
        return error_body(
            actix_web::http::StatusCode::BAD_REQUEST,
            code::BAD_USER_INPUT,
            "a batch holds at most 10 requests",
        );
    }
    run_batch(&req, &state, &schemas, batch).await
}

/// Authenticates, charges the rate limit and runs a batch of one or more requests; the
/// answer is JSON, or `application/graphql-response+json` when the client asks for it.
async fn run_batch(
    req: &HttpRequest,
    state: &AppState,
    schemas: &Schemas,
    batch: BatchRequest,
) -> HttpResponse {
    // While the database is known to be down, say so at once rather than after a pool
    // timeout.
    if state.db_health.is_down() {
        return unavailable();
    }
    let client = client_addr(req);
    let operations = match &batch {
        BatchRequest::Single(_) => 1,
        BatchRequest::Batch(requests) => requests.len().max(1) as u32,
    };
    let identity = match caller(req, state).await {
        Ok(identity) => identity,
        Err(response) => {
            // Guessing credentials spends the address's budget.
            if !state.rate.allow(&Identity::Anonymous.rate_key(&client)) {
                return too_many_requests();
            }
            return response;
        }
    };
    if !state.rate.allow_n(&identity.rate_key(&client), operations) {
        return too_many_requests();
    }
    let batch = batch.data(identity).data(ClientAddr(client));
    let response = match batch {
        BatchRequest::Single(request) => BatchResponse::Single(schemas.execute(request).await),
        BatchRequest::Batch(requests) => {
            let mut responses = Vec::with_capacity(requests.len());
            for request in requests {
                responses.push(schemas.execute(request).await);
            }
            BatchResponse::Batch(responses)
        }
    };
    let body = match serde_json::to_vec(&response) {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error = ?e, "cannot serialise a response");
            return error_body(
                actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
                code::INTERNAL,
                "internal error",
            );
        }
    };
    HttpResponse::Ok()
        .content_type(response_type(req))
        .body(body)
}

/// The media type of a GraphQL answer: `application/graphql-response+json` when the client's
/// `Accept` names it (GraphQL over HTTP), else `application/json`.
fn response_type(req: &HttpRequest) -> &'static str {
    let wants_graphql = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/graphql-response+json"));
    if wants_graphql {
        "application/graphql-response+json; charset=utf-8"
    } else {
        "application/json"
    }
}

/// The parameters of a GraphQL request sent as `GET` (GraphQL over HTTP): `query`,
/// `operationName`, and `variables` and `extensions` as JSON text.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetParams {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

/// Whether `query`'s chosen operation only reads (a query). Unparsable text counts as a read:
/// execution reports its errors.
fn reads_only(query: &str, operation: Option<&str>) -> bool {
    use async_graphql::parser::types::{DocumentOperations, OperationType};
    let Ok(doc) = async_graphql::parser::parse_query(query) else {
        return true;
    };
    let kind = match (&doc.operations, operation) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| op.node.ty),
        (DocumentOperations::Multiple(ops), None) => ops.values().next().map(|op| op.node.ty),
    };
    kind.is_none_or(|k| k == OperationType::Query)
}

/// `GET /graphql?query=...`: runs queries (never mutations: 405 with `Allow: POST`).
async fn graphql_get_query(req: &HttpRequest, state: &AppState, schemas: &Schemas) -> HttpResponse {
    let bad = |message: &str| {
        error_body(
            actix_web::http::StatusCode::BAD_REQUEST,
            code::BAD_USER_INPUT,
            message,
        )
    };
    if req.query_string().len() > state.config.max_body_bytes {
        return bad("the query string is too long");
    }
    let Ok(params) = web::Query::<GetParams>::from_query(req.query_string()) else {
        return bad("the query string is not a GraphQL request");
    };
    let params = params.into_inner();
    let json = |text: Option<&str>, what: &str| match text.map(serde_json::from_str) {
        None => Ok(None),
        Some(Ok(value)) => Ok(Some(value)),
        Some(Err(_)) => Err(format!("`{what}` is not JSON")),
    };
    let (variables, extensions): (Option<serde_json::Value>, Option<serde_json::Value>) = match (
        json(params.variables.as_deref(), "variables"),
        json(params.extensions.as_deref(), "extensions"),
    ) {
        (Ok(variables), Ok(extensions)) => (variables, extensions),
        (Err(message), _) | (_, Err(message)) => return bad(&message),
    };
    let query = params.query.unwrap_or_default();
    if !reads_only(&query, params.operation_name.as_deref()) {
        let mut response = error_body(
            actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
            code::BAD_USER_INPUT,
            "only queries may be sent with GET; send mutations with POST",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let mut request = async_graphql::Request::new(query);
    if let Some(name) = params.operation_name {
        request = request.operation_name(name);
    }
    if let Some(variables) = variables {
        request = request.variables(async_graphql::Variables::from_json(variables));
    }
    if let Some(serde_json::Value::Object(extensions)) = extensions {
        for (key, value) in extensions {
            if let Ok(value) = async_graphql::Value::from_json(value) {
                request.extensions.insert(key, value);
            }
        }
    }
    run_batch(req, state, schemas, BatchRequest::Single(request)).await
}

fn too_many_requests() -> HttpResponse {
    let mut response = error_body(
        actix_web::http::StatusCode::TOO_MANY_REQUESTS,
        code::RATE_LIMITED,
        "too many requests; slow down",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// The address a request came from (the peer: forwarded headers are not trusted).
fn client_addr(req: &HttpRequest) -> String {
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// The `Bearer` credential of a request, if any.
fn bearer(req: &HttpRequest) -> Option<Result<&str, ()>> {
    let value = req.headers().get(header::AUTHORIZATION)?;
    let Ok(text) = value.to_str() else {
        return Some(Err(()));
    };
    Some(match text.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Ok(token.trim()),
        _ => Err(()),
    })
}

/// Who is calling: anonymous without a credential, refused (401) with a bad one. When the
/// credential cannot be checked (the database is unreachable) the answer is 503 `INTERNAL`,
/// never 401: the credential is not at fault and the client must not discard it.
async fn caller(req: &HttpRequest, state: &AppState) -> Result<Identity, HttpResponse> {
    let unauthorized = |message: &str| {
        error_body(
            actix_web::http::StatusCode::UNAUTHORIZED,
            code::UNAUTHENTICATED,
            message,
        )
    };
    match bearer(req) {
        None => Ok(Identity::Anonymous),
        Some(Err(())) => Err(unauthorized(
            "send credentials as `Authorization: Bearer <token>`",
        )),
        Some(Ok(token)) => match auth::service::authenticate(state, token).await {
            Ok(identity) => Ok(identity),
            Err(AppError::Unauthenticated | AppError::BadCredentials(_)) => Err(unauthorized(
                "the credential is invalid, expired or revoked",
            )),
            Err(e) => {
                if db::is_unreachable(&e) {
                    state.db_health.set_down(true);
                }
                tracing::error!(error = ?e, "cannot check a credential");
                Err(unavailable())
            }
        },
    }
}

/// Reads the credential a WebSocket client sends in `connection_init`:
/// `{"authorization": "Bearer <token>"}` (or `Authorization`, or `token`).
fn init_credential(payload: &serde_json::Value) -> Option<String> {
    let raw = ["authorization", "Authorization", "token"]
        .iter()
        .find_map(|k| payload.get(*k).and_then(|v| v.as_str()))?;
    let raw = raw.trim();
    Some(
        match raw.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token,
            _ => raw,
        }
        .trim()
        .to_owned(),
    )
}

async fn graphql_get(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    schemas: web::Data<Schemas>,
) -> Result<HttpResponse, actix_web::Error> {
    let upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if upgrade {
        return websocket(req, payload, state, schemas.strict.clone());
    }
    let has_request = web::Query::<GetParams>::from_query(req.query_string())
        .is_ok_and(|p| p.query.is_some() || p.extensions.is_some());
    if has_request {
        return Ok(graphql_get_query(&req, &state, &schemas).await);
    }
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if !wants_html {
        return Ok(error_body(
            actix_web::http::StatusCode::BAD_REQUEST,
            code::BAD_USER_INPUT,
            "send the query as a `query` parameter (GraphQL over HTTP), or POST it as JSON",
        ));
    }
    if !state.config.serves_graphiql() {
        return Ok(HttpResponse::NotFound().finish());
    }
    Ok(crate::graphiql::page())
}

fn websocket(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    schema: HectorSchema,
) -> Result<HttpResponse, actix_web::Error> {
    let protocol = req
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|list| {
            list.split(',')
                .find_map(|p| WebSocketProtocols::from_str(p.trim()).ok())
        })
        .ok_or_else(|| {
            actix_web::error::ErrorBadRequest(
                "Sec-WebSocket-Protocol must offer graphql-transport-ws or graphql-ws",
            )
        })?;
    let (mut response, session, messages) = actix_ws::handle(&req, payload)?;
    response.headers_mut().insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(protocol.sec_websocket_protocol()),
    );
    let state = state.get_ref().clone();
    let client = client_addr(&req);
    actix_web::rt::spawn(async move {
        pump(schema, state, client, protocol, session, messages).await;
    });
    Ok(response)
}

/// How long a WebSocket peer may stay silent (not even answering pings) before it is dropped.
const PEER_SILENCE: Duration = Duration::from_secs(45);

/// Shuttles one WebSocket between the client and async-graphql's protocol machine until either
/// side closes or the server shuts down (clients are told with close code 1001).
async fn pump(
    schema: HectorSchema,
    state: AppState,
    client: String,
    protocol: WebSocketProtocols,
    mut session: actix_ws::Session,
    messages: actix_ws::MessageStream,
) {
    let shutdown = state.shutdown.clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<web::Bytes>(16);
    // Who signed in on this socket, for the periodic re-check, and their operation budget.
    let signed_in: Arc<Mutex<Option<(Principal, Watched)>>> = Arc::default();
    let ops = Arc::new(Mutex::new(SocketOps::new(
        protocol,
        state.config.max_subscriptions_per_socket,
    )));
    let init_state = state.clone();
    let init_signed_in = signed_in.clone();
    let init_ops = ops.clone();
    let mut graphql = WebSocket::new(schema, ReceiverStream::new(rx), protocol).on_connection_init(
        move |payload| async move {
            let anonymous_key = Identity::Anonymous.rate_key(&client);
            let identity = match init_credential(&payload) {
                None => Identity::Anonymous,
                Some(token) => match auth::service::authenticate(&init_state, &token).await {
                    Ok(identity) => identity,
                    Err(AppError::Unauthenticated | AppError::BadCredentials(_)) => {
                        init_state.rate.allow(&anonymous_key);
                        return Err(refuse_init(
                            &init_ops,
                            4403,
                            "the credential is invalid, expired or revoked",
                        ));
                    }
                    Err(e) => {
                        if db::is_unreachable(&e) {
                            init_state.db_health.set_down(true);
                        }
                        tracing::error!(error = ?e, "cannot check a subscriber's credential");
                        return Err(refuse_init(&init_ops, 1011, "internal error; try again"));
                    }
                },
            };
            let key = identity.rate_key(&client);
            let Some(slot) = init_state.sockets.acquire(&key) else {
                return Err(refuse_init(
                    &init_ops,
                    4429,
                    "too many open sockets for this identity",
                ));
            };
            if let Ok(mut ops) = init_ops.lock() {
                ops.signed_in(key, slot);
            }
            if let (Some(p), Ok(mut slot)) = (identity.principal(), init_signed_in.lock()) {
                *slot = Some((p.clone(), init_state.watchers.watch(p.clone())));
            }
            let mut data = Data::default();
            data.insert(identity);
            data.insert(ClientAddr(client));
            Ok(data)
        },
    );
    let mut recheck = tokio::time::interval(Duration::from_secs(1));
    let mut messages = messages
        .max_frame_size(MAX_WS_MESSAGE)
        .aggregate_continuations()
        .max_continuation_size(MAX_WS_MESSAGE);
    // The server keeps an idle socket alive itself: it pings every 15 s, and anything the
    // peer sends (a pong included) counts as life. A peer silent for 45 s is gone.
    let mut heartbeat = tokio::time::interval(Duration::from_secs(15));
    let mut last_seen = tokio::time::Instant::now();
    let close = |code: CloseCode, description: &str| {
        Some(CloseReason {
            code,
            description: Some(description.to_owned()),
        })
    };
    loop {
        tokio::select! {
            () = shutdown.cancelled() => {
                let _ = session.close(close(CloseCode::Away, "server shutting down")).await;
                return;
            }
            out = graphql.next() => match out {
                Some(WsMessage::Text(text)) => {
                    if let Ok(mut ops) = ops.lock() {
                        ops.note_server_message(&text);
                    }
                    if session.text(text).await.is_err() {
                        return;
                    }
                }
                Some(WsMessage::Close(code, reason)) => {
                    // A refused `connection_init` closes with the code its reason deserves.
                    let code = ops.lock().ok().and_then(|o| o.init_refusal).unwrap_or(code);
                    let _ = session.close(close(CloseCode::from(code), &reason)).await;
                    return;
                }
                None => {
                    let _ = session.close(None).await;
                    return;
                }
            },
            msg = messages.recv() => {
                last_seen = tokio::time::Instant::now();
                match msg {
                    Some(Ok(AggregatedMessage::Text(text))) => {
                        let refusal = ops
                            .lock()
                            .ok()
                            .and_then(|mut ops| ops.screen_client_message(text.as_bytes(), &state.rate));
                        if let Some(reply) = refusal {
                            if session.text(reply).await.is_err() {
                                return;
                            }
                        } else if tx.send(text.into_bytes()).await.is_err() {
                            return;
                        }
                    }
                    Some(Ok(AggregatedMessage::Binary(bytes))) => {
                        let refusal = ops
                            .lock()
                            .ok()
                            .and_then(|mut ops| ops.screen_client_message(&bytes, &state.rate));
                        if let Some(reply) = refusal {
                            if session.text(reply).await.is_err() {
                                return;
                            }
                        } else if tx.send(bytes).await.is_err() {
                            return;
                        }
                    }
                    Some(Ok(AggregatedMessage::Ping(bytes))) => {
                        if session.pong(&bytes).await.is_err() {
                            return;
                        }
                    }
                    Some(Ok(AggregatedMessage::Pong(_))) => {}
                    Some(Ok(AggregatedMessage::Close(_))) | Some(Err(_)) | None => {
                        let _ = session.close(None).await;
                        return;
                    }
                }
            }
            _ = heartbeat.tick() => {
                if last_seen.elapsed() > PEER_SILENCE {
                    let _ = session
                        .close(close(CloseCode::Away, "no answer to pings"))
                        .await;
                    return;
                }
                if session.ping(b"").await.is_err() {
                    return;
                }
            }
            _ = recheck.tick() => {
                // The expiry is checked here every second; revocation and changes of role or
                // support groups by one pass over every socket (`auth::service::run_rechecks`),
                // which leaves the verdict alone while the database is away.
                let verdict = signed_in.lock().ok().and_then(|slot| {
                    slot.as_ref().map(|(p, watched)| {
                        if p.expires_at.is_some_and(|at| at <= crate::db::now()) {
                            Recheck::Invalid
                        } else {
                            *watched.verdict.borrow()
                        }
                    })
                });
                let reason = match verdict {
                    None | Some(Recheck::Unchanged) => continue,
                    Some(Recheck::Invalid) => {
                        close(CloseCode::Other(4401), "credential expired or revoked")
                    }
                    Some(Recheck::AccessChanged) => close(
                        CloseCode::Other(4403),
                        "your role or support groups changed; connect again",
                    ),
                };
                let _ = session.close(reason).await;
                return;
            }
        }
    }
}

/// Notes why `connection_init` was refused and returns the error async-graphql sends.
fn refuse_init(ops: &Mutex<SocketOps>, code: u16, message: &str) -> async_graphql::Error {
    if let Ok(mut ops) = ops.lock() {
        ops.init_refusal = Some(code);
    }
    async_graphql::Error::new(message)
}

/// The operations of one socket: each started operation spends the identity's budget, and at
/// most `max` run at once. Holds the socket's slot among its identity's open sockets.
struct SocketOps {
    protocol: WebSocketProtocols,
    max: usize,
    active: HashSet<String>,
    /// The identity's budget key, once `connection_init` has succeeded.
    key: Option<String>,
    /// The close code of a refused `connection_init`: 4403 for a bad credential, 4429 for too
    /// many sockets, 1011 (try again) when the credential could not be checked.
    init_refusal: Option<u16>,
    _slot: Option<SocketSlot>,
}

#[derive(serde::Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
}

impl SocketOps {
    fn new(protocol: WebSocketProtocols, max: usize) -> Self {
        Self {
            protocol,
            max,
            active: HashSet::new(),
            key: None,
            init_refusal: None,
            _slot: None,
        }
    }

    fn signed_in(&mut self, key: String, slot: SocketSlot) {
        self.key = Some(key);
        self._slot = Some(slot);
    }

    /// Screens a client message: `Some(reply)` refuses an operation (the reply tells the
    /// client why), `None` passes the message on.
    fn screen_client_message(&mut self, text: &[u8], rate: &RateLimiter) -> Option<String> {
        let envelope: Envelope = serde_json::from_slice(text).ok()?;
        let id = envelope.id?;
        match envelope.kind.as_str() {
            "subscribe" | "start" => {
                let key = self.key.as_deref()?;
                if self.active.len() >= self.max && !self.active.contains(&id) {
                    let message = format!(
                        "a socket holds at most {} operations at once; complete one first",
                        self.max
                    );
                    return Some(self.refusal(&id, code::RATE_LIMITED, &message));
                }
                if !rate.allow(key) {
                    return Some(self.refusal(
                        &id,
                        code::RATE_LIMITED,
                        "too many requests; slow down",
                    ));
                }
                self.active.insert(id);
            }
            "complete" | "stop" => {
                self.active.remove(&id);
            }
            _ => {}
        }
        None
    }

    /// Notes operations the server ended.
    fn note_server_message(&mut self, text: &str) {
        if text.starts_with(r#"{"type":"complete""#)
            && let Ok(Envelope { id: Some(id), .. }) = serde_json::from_str(text)
        {
            self.active.remove(&id);
        }
    }

    fn refusal(&self, id: &str, code: &str, message: &str) -> String {
        let error = json!({ "message": message, "extensions": { "code": code } });
        match self.protocol {
            WebSocketProtocols::GraphQLWS => {
                json!({ "type": "error", "id": id, "payload": [error] })
            }
            WebSocketProtocols::SubscriptionsTransportWS => {
                json!({ "type": "error", "id": id, "payload": error })
            }
        }
        .to_string()
    }
}

/// `HEAD /graphql`: the endpoint is there.
async fn graphql_head() -> HttpResponse {
    HttpResponse::Ok().finish()
}

/// Counters in the Prometheus text format, for admins (a scraper sends an admin's API token
/// as its bearer).
async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    use std::sync::atomic::Ordering::Relaxed;
    let identity = match caller(&req, &state).await {
        Ok(identity) => identity,
        Err(response) => return response,
    };
    if !identity
        .principal()
        .is_some_and(|p| p.role == crate::actor::Role::Admin)
    {
        return error_body(
            actix_web::http::StatusCode::FORBIDDEN,
            code::FORBIDDEN,
            "metrics are for admins",
        );
    }
    let lines = [
        (
            "hector_db_queries_total",
            "counter",
            "Statements sent to the database.",
            state.db_stats.queries.load(Relaxed),
        ),
        (
            "hector_db_query_errors_total",
            "counter",
            "Statements the database failed.",
            state.db_stats.failed.load(Relaxed),
        ),
        (
            "hector_db_up",
            "gauge",
            "1 while the database answers the health probe.",
            u64::from(!state.db_health.is_down()),
        ),
        (
            "hector_websockets_signed_in",
            "gauge",
            "Open WebSockets that completed connection_init.",
            state.sockets.total() as u64,
        ),
        (
            "hector_subscription_callers",
            "gauge",
            "Signed-in sockets whose credentials are re-checked.",
            state.watchers.len() as u64,
        ),
        (
            "hector_events_published_id",
            "gauge",
            "Newest outbox event this replica has broadcast.",
            u64::try_from(state.events.published()).unwrap_or_default(),
        ),
    ];
    let mut body = String::new();
    for (name, kind, help, value) in lines {
        body.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        ));
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(body)
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if db::ready(&state.db).await {
        HttpResponse::Ok().json(json!({ "status": "ready" }))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({ "status": "unavailable" }))
    }
}
