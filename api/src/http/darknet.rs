//! `POST /ingest/darknet`: a sensor's lines, as `text/plain` syslog lines or
//! `application/x-ndjson` events, answered with what was accepted and what was rejected and
//! why. A success answer means every accepted event is committed.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::{caller, client_addr, error_body, read_body, too_many_requests, unavailable};
use crate::actor::{Identity, Role};
use crate::darknet::ingest::{self, Format};
use crate::darknet::sensor;
use crate::db;
use crate::error::{AppError, code};
use crate::graphql::guard::{self, Access};
use crate::state::AppState;

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Params {
    sensor_id: Option<String>,
}

fn refusal(e: &AppError) -> HttpResponse {
    let status = match e {
        AppError::BadUserInput(_) => StatusCode::BAD_REQUEST,
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        AppError::Conflict(_) => StatusCode::CONFLICT,
        AppError::Unauthenticated | AppError::BadCredentials(_) => StatusCode::UNAUTHORIZED,
        AppError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error_body(status, e.code(), &e.message())
}

/// The format a request's `Content-Type` names (syslog lines when it names none).
fn format_of(req: &HttpRequest) -> Result<Format, AppError> {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return Ok(Format::Syslog);
    };
    let essence = value
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "text/plain" => Ok(Format::Syslog),
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" => Ok(Format::Ndjson),
        _ => Err(AppError::bad_input(
            "send `text/plain` (syslog lines) or `application/x-ndjson` (one JSON event per line)",
        )),
    }
}

/// The sensor a caller sends as: a sensor's token its own sensor (naming another is refused);
/// an admin the sensor named by `?sensorId=`.
async fn sensor_of(
    state: &AppState,
    who: &Identity,
    named: Option<i64>,
) -> Result<entity::sensor::Model, AppError> {
    let Identity::User(p) = who else {
        return Err(AppError::Unauthenticated);
    };
    if !guard::permits(who, Access::Ingest) {
        return Err(AppError::Forbidden(
            "sending darknet lines takes a sensor's token with the `ingest` scope".into(),
        ));
    }
    if p.role == Role::Sensor {
        let own = sensor::of_user(&state.db, p.user_id)
            .await?
            .ok_or_else(|| AppError::Forbidden("this account belongs to no sensor".into()))?;
        if named.is_some_and(|n| n != own.id) {
            return Err(AppError::Forbidden("a sensor sends only as itself".into()));
        }
        return Ok(own);
    }
    let id = named.ok_or_else(|| {
        AppError::bad_input("name the sensor these lines are from with `?sensorId=`")
    })?;
    sensor::get(&state.db, id)
        .await?
        .ok_or_else(|| AppError::not_found("sensor"))
}

pub(super) async fn ingest_darknet(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    if state.db_health.is_down() {
        return unavailable();
    }
    let who = match caller(&req, &state).await {
        Ok(Identity::Anonymous) => {
            return error_body(
                StatusCode::UNAUTHORIZED,
                code::UNAUTHENTICATED,
                "send the sensor's token as `Authorization: Bearer <token>`",
            );
        }
        Ok(who) => who,
        Err(response) => return response,
    };
    if !state.rate.allow(&who.rate_key(&client_addr(&req))) {
        return too_many_requests();
    }
    let named = match web::Query::<Params>::from_query(req.query_string()) {
        Ok(q) => match q
            .sensor_id
            .as_deref()
            .map(|id| crate::graphql::node::decode(&async_graphql::ID(id.to_owned()), "Sensor"))
            .transpose()
        {
            Ok(id) => id,
            Err(e) => return refusal(&e),
        },
        Err(_) => {
            return refusal(&AppError::bad_input(
                "the query string takes only `sensorId`",
            ));
        }
    };
    let format = match format_of(&req) {
        Ok(f) => f,
        Err(e) => {
            return error_body(StatusCode::UNSUPPORTED_MEDIA_TYPE, e.code(), &e.message());
        }
    };
    let key = match req.headers().get("idempotency-key") {
        None => None,
        Some(v) => match ingest::check_key(v.to_str().unwrap_or_default()) {
            Ok(k) => Some(k),
            Err(e) => return refusal(&e),
        },
    };
    let outcome = async {
        let sensor = sensor_of(&state, &who, named).await?;
        if !sensor.enabled {
            return Err(AppError::Forbidden(format!(
                "sensor {:?} is disabled: its lines are refused",
                sensor.name
            )));
        }
        Ok(sensor)
    }
    .await;
    let sensor = match outcome {
        Ok(s) => s,
        Err(e) => return failure(&state, e),
    };
    let body = match read_body(
        &req,
        payload,
        state.config.max_darknet_body_bytes,
        Duration::from_secs(state.config.body_timeout_secs),
    )
    .await
    {
        Ok(b) => b,
        Err(response) => return response,
    };
    let (geo, sensor_id) = (state.geoip.clone(), sensor.id);
    let backend = sea_orm::ConnectionTrait::get_database_backend(&state.db);
    let batch = match tokio::task::spawn_blocking(move || {
        let parsed = ingest::read(&body, format, 1, db::now());
        ingest::prepare(parsed, &geo, sensor_id, backend)
    })
    .await
    {
        Ok(b) => Arc::new(b),
        Err(e) => return failure(&state, AppError::internal(e)),
    };
    match ingest::ingest(&state.db, sensor.id, key, &batch).await {
        Ok(report) => HttpResponse::Ok().json(json!({
            "sensorId": crate::graphql::node::encode("Sensor", sensor.id),
            "batchId": report.batch_id,
            "accepted": report.accepted,
            "skipped": report.skipped,
            "rejectedCount": report.rejected_count,
            "rejected": report.rejected,
            "replayed": report.replayed,
        })),
        Err(e) => failure(&state, e),
    }
}

fn failure(state: &AppState, e: AppError) -> HttpResponse {
    if let AppError::Internal(_) = &e {
        if db::is_unreachable(&e) {
            state.db_health.set_down(true);
            return unavailable();
        }
        tracing::error!(error = ?e, "a darknet ingest failed");
    }
    refusal(&e)
}
