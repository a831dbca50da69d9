//! Uploads: GraphQL multipart requests (`importNmapXml`, `importFindings`) and the streaming
//! `POST /ingest/nmap` and `POST /ingest/findings`.
//! Bodies are streamed through a small channel, never held whole.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde_json::json;
use tokio_stream::wrappers::ReceiverStream;

use super::{caller, client_addr, error_body, run_batch, too_many_requests, unavailable};
use crate::actor::Identity;
use crate::db;
use crate::error::{AppError, code};
use crate::schema::Schemas;
use crate::state::AppState;

pub(super) fn is_multipart(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
}

/// Headers a browser cannot send cross-site without a CORS preflight; a multipart request
/// (which a plain HTML form can send) must carry one, as Apollo's upload clients do.
const PREFLIGHT_HEADERS: [&str; 3] = [
    "apollo-require-preflight",
    "x-apollo-operation-name",
    "graphql-preflight",
];

/// A request body as a reader on a blocking thread: chunks arrive through a small channel
/// (so a slow reader slows the client, and memory stays at a few chunks). Past `limit` bytes,
/// or when no chunk arrives within `idle`, the body ends early and `cut` says why.
struct BodyReader {
    rx: tokio::sync::mpsc::Receiver<web::Bytes>,
    current: web::Bytes,
}

impl std::io::Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Why a streamed body ended before its end.
type BodyCut = Arc<Mutex<Option<String>>>;

/// Forwards `payload` into a channel on this worker, at most `limit` bytes.
fn forward_body(
    mut payload: web::Payload,
    limit: u64,
    idle: Duration,
) -> (tokio::sync::mpsc::Receiver<web::Bytes>, BodyCut) {
    let (tx, rx) = tokio::sync::mpsc::channel::<web::Bytes>(8);
    let cut: BodyCut = Arc::default();
    let said = cut.clone();
    actix_web::rt::spawn(async move {
        let mut total: u64 = 0;
        let why = loop {
            match tokio::time::timeout(idle, payload.next()).await {
                Err(_) => break Some(format!("no data for {} s", idle.as_secs())),
                Ok(None) => break None,
                Ok(Some(Err(_))) => break Some("the body could not be read".to_owned()),
                Ok(Some(Ok(chunk))) => {
                    total += chunk.len() as u64;
                    if total > limit {
                        break Some(format!("the body is larger than {limit} bytes"));
                    }
                    if tx.send(chunk).await.is_err() {
                        break None;
                    }
                }
            }
        };
        if let (Some(why), Ok(mut cut)) = (why, said.lock()) {
            *cut = Some(why);
        }
    });
    (rx, cut)
}

/// A GraphQL multipart request (file uploads, the spec Apollo's and urql's upload links
/// speak): only from a signed-in caller, with a preflight header, files up to the import cap.
pub(super) async fn graphql_multipart(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    schemas: web::Data<Schemas>,
) -> HttpResponse {
    if !PREFLIGHT_HEADERS
        .iter()
        .any(|h| req.headers().contains_key(*h))
    {
        return error_body(
            actix_web::http::StatusCode::BAD_REQUEST,
            code::BAD_USER_INPUT,
            "a multipart request needs an `Apollo-Require-Preflight: true` header",
        );
    }
    if state.db_health.is_down() {
        return unavailable();
    }
    // Who it is, before a byte of the files is stored.
    match caller(&req, &state).await {
        Ok(Identity::User(_)) => {}
        Ok(Identity::Anonymous) => {
            return error_body(
                actix_web::http::StatusCode::UNAUTHORIZED,
                code::UNAUTHENTICATED,
                "sign in to upload files",
            );
        }
        Err(response) => return response,
    }
    let limit = state.config.max_import_bytes;
    let (rx, _cut) = forward_body(
        payload,
        limit.saturating_add(1024 * 1024),
        Duration::from_secs(state.config.body_timeout_secs),
    );
    let body = futures_util::TryStreamExt::into_async_read(
        ReceiverStream::new(rx).map(Ok::<_, std::io::Error>),
    );
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let options = async_graphql::http::MultipartOptions::default()
        .max_file_size(usize::try_from(limit).unwrap_or(usize::MAX))
        .max_num_files(4);
    let batch = match async_graphql::http::receive_batch_body(content_type, body, options).await {
        Ok(batch) => batch,
        Err(e) => {
            return error_body(
                actix_web::http::StatusCode::BAD_REQUEST,
                code::BAD_USER_INPUT,
                &format!("not a GraphQL multipart request: {e}"),
            );
        }
    };
    run_batch(&req, &state, &schemas, batch).await
}

/// Who may import through a streaming endpoint: an analyst or admin (an API token needs the
/// `write` or `ingest` scope), within the rate limit, while the database answers.
async fn importer(
    req: &HttpRequest,
    state: &AppState,
    what: &str,
) -> Result<Identity, HttpResponse> {
    if state.db_health.is_down() {
        return Err(unavailable());
    }
    let who = caller(req, state).await?;
    let allowed = match &who {
        Identity::User(p) => {
            matches!(
                p.role,
                crate::actor::Role::Admin | crate::actor::Role::Analyst
            ) && match &p.credential {
                crate::actor::Credential::ApiToken { scopes, .. } => scopes.write || scopes.ingest,
                crate::actor::Credential::Session { .. } => true,
            }
        }
        Identity::Anonymous => {
            return Err(error_body(
                actix_web::http::StatusCode::UNAUTHORIZED,
                code::UNAUTHENTICATED,
                "send credentials as `Authorization: Bearer <token>`",
            ));
        }
    };
    if !allowed {
        return Err(error_body(
            actix_web::http::StatusCode::FORBIDDEN,
            code::FORBIDDEN,
            &format!(
                "importing {what} takes an analyst or admin (a token with the write or ingest scope)"
            ),
        ));
    }
    if !state.rate.allow(&who.rate_key(&client_addr(req))) {
        return Err(too_many_requests());
    }
    Ok(who)
}

fn bad_request(e: &AppError) -> HttpResponse {
    error_body(
        actix_web::http::StatusCode::BAD_REQUEST,
        e.code(),
        &e.message(),
    )
}

/// The support group of `?supportGroupId=`, which the importer must be allowed to add to.
fn group_param(text: Option<&str>) -> Result<Option<i64>, AppError> {
    text.map(|g| crate::graphql::node::decode(&async_graphql::ID(g.to_owned()), "SupportGroup"))
        .transpose()
}

fn forbidden(e: &AppError) -> HttpResponse {
    error_body(
        actix_web::http::StatusCode::FORBIDDEN,
        e.code(),
        &e.message(),
    )
}

/// The body as a reader, at most the import cap, and why it was cut short if it was.
fn body_reader(payload: web::Payload, state: &AppState) -> (BodyReader, BodyCut) {
    let (rx, cut) = forward_body(
        payload,
        state.config.max_import_bytes,
        Duration::from_secs(state.config.body_timeout_secs),
    );
    (
        BodyReader {
            rx,
            current: web::Bytes::new(),
        },
        cut,
    )
}

/// The answer of an import: its report (413 when the body was cut short: everything read
/// before is committed all the same), or the error.
fn import_answer(
    outcome: Result<serde_json::Value, AppError>,
    cut: &BodyCut,
    state: &AppState,
    what: &str,
) -> HttpResponse {
    match outcome {
        Ok(mut body) => {
            let cut = cut.lock().ok().and_then(|c| c.clone());
            let status = if cut.is_some() {
                actix_web::http::StatusCode::PAYLOAD_TOO_LARGE
            } else {
                actix_web::http::StatusCode::OK
            };
            body["bodyCut"] = json!(cut);
            HttpResponse::build(status).json(body)
        }
        Err(e @ (AppError::BadUserInput(_) | AppError::NotFound(_))) => bad_request(&e),
        Err(e @ AppError::Forbidden(_)) => forbidden(&e),
        Err(e) => {
            if db::is_unreachable(&e) {
                state.db_health.set_down(true);
                return unavailable();
            }
            tracing::error!(error = ?e, "an import of {what} failed");
            error_body(
                actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
                code::INTERNAL,
                "internal error",
            )
        }
    }
}

/// `POST /ingest/nmap`: an nmap XML file streamed as the body (`curl --data-binary
/// @scan.xml`), by an analyst or admin (an API token needs the `write` or `ingest` scope).
/// `?supportGroupId=` places hosts not in the inventory yet. Answers with the import's
/// report; everything it accepted is committed, also when the body was cut short.
pub(super) async fn ingest_nmap(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let who = match importer(&req, &state, "scans").await {
        Ok(who) => who,
        Err(response) => return response,
    };
    let Ok(query) = web::Query::<NmapParams>::from_query(req.query_string()) else {
        return bad_request(&AppError::bad_input(
            "the query string takes only `supportGroupId`",
        ));
    };
    let group = match group_param(query.support_group_id.as_deref()) {
        Ok(g) => g,
        Err(e) => return bad_request(&e),
    };
    let recorder = match crate::scan::ingest::recorder_for(&who, group) {
        Ok(r) => r,
        Err(e) => return forbidden(&e),
    };
    let (reader, cut) = body_reader(payload, &state);
    let outcome = crate::scan::ingest::import(&state, &who, &recorder, reader, None)
        .await
        .map(|(run, report)| {
            json!({
                "scanRunId": crate::graphql::node::encode("ScanRun", run.id),
                "status": run.status,
                "hosts": report.hosts,
                "hostsDown": report.hosts_down,
                "hostsCreated": report.hosts_created,
                "ports": report.ports,
                "changes": report.changes,
                "findings": report.findings,
                "rejectedCount": report.rejected_count,
                "rejected": report.rejected,
                "stoppedAt": report.stopped,
            })
        });
    import_answer(outcome, &cut, &state, "nmap XML")
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NmapParams {
    support_group_id: Option<String>,
}

/// `POST /ingest/findings?kind=OPENVAS|NESSUS|NESSUS_CSV|NMAP`: a scanner report streamed as
/// the body, by an analyst or admin (an API token needs the `write` or `ingest` scope).
/// `?supportGroupId=` places hosts not in the inventory yet. Answers with the import's
/// report; everything it accepted is committed, also when the body was cut short.
pub(super) async fn ingest_findings(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let who = match importer(&req, &state, "findings").await {
        Ok(who) => who,
        Err(response) => return response,
    };
    let Ok(query) = web::Query::<FindingParams>::from_query(req.query_string()) else {
        return bad_request(&AppError::bad_input(
            "the query string takes `kind` (OPENVAS, NESSUS, NESSUS_CSV or NMAP) and \
             `supportGroupId`",
        ));
    };
    let Some(kind) = crate::vuln::Kind::parse(&query.kind.to_ascii_uppercase()) else {
        return bad_request(&AppError::bad_input(
            "`kind` is one of OPENVAS, NESSUS, NESSUS_CSV and NMAP",
        ));
    };
    let group = match group_param(query.support_group_id.as_deref()) {
        Ok(g) => g,
        Err(e) => return bad_request(&e),
    };
    let recorder = match crate::vuln::ingest::recorder_for(&who, group) {
        Ok(r) => r,
        Err(e) => return forbidden(&e),
    };
    let (reader, cut) = body_reader(payload, &state);
    let outcome = crate::vuln::ingest::import(&state, &who, kind, &recorder, reader, None)
        .await
        .map(|(row, report)| {
            json!({
                "findingImportId": crate::graphql::node::encode("FindingImport", row.id),
                "status": row.status,
                "hosts": report.hosts,
                "findings": report.findings,
                "newFindings": report.new,
                "reopened": report.reopened,
                "fixed": report.fixed,
                "skippedCount": report.skipped_count,
                "skipped": report.skipped,
                "rejectedCount": report.rejected_count,
                "rejected": report.rejected,
                "stoppedAt": report.stopped,
            })
        });
    import_answer(outcome, &cut, &state, "findings")
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FindingParams {
    kind: String,
    support_group_id: Option<String>,
}
