//! Start-up and shutdown: connect, migrate, build the schema once, serve, run the jobs, and
//! stop all of it when told.

use std::future::Future;
use std::io::Write;
use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Service;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{App, HttpMessage, HttpServer, web};
use clap::Parser;
use tokio_util::sync::CancellationToken;
use tracing_actix_web::{RequestId, TracingLogger};

use crate::config::{Cli, Command, Config, TokenCommand, UserCommand};
use crate::error::{AppError, AppResult};
use crate::events;
use crate::state::AppState;
use crate::{auth, db, http, jobs, schema, telemetry};

/// How long open connections get to finish when the server stops.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// How long an idle HTTP/1.1 connection is kept open for the next request.
/// Longer than the 60 s idle timeout of common load balancers and proxies, so
/// the server is never the side that closes a connection they are about to
/// reuse (which a client sees as a request that failed without an answer).
const KEEP_ALIVE: Duration = Duration::from_secs(75);

/// The `hector` command line.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = cli.config;
    if let Err(problem) = config.validate() {
        let _ = writeln!(std::io::stderr(), "hector: {problem}");
        return ExitCode::from(2);
    }
    let command = cli.command.unwrap_or(Command::Serve);
    if command == Command::Schema {
        let _ = write!(std::io::stdout(), "{}", schema::sdl());
        return ExitCode::SUCCESS;
    }
    if command == Command::Serve {
        telemetry::init(&config);
    } else {
        telemetry::init_quiet(&config);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = ?e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async move {
        match command {
            Command::Migrate => {
                let db = db::connect(&config).await?;
                db::migrate(&db, &config.instance_name()).await
            }
            Command::User(cmd) => user_command(config, cmd).await,
            Command::Token(cmd) => token_command(config, cmd).await,
            Command::Import(cmd) => import_command(config, cmd).await,
            Command::Serve | Command::Schema => {
                // Every open socket is a file descriptor: take what the system allows.
                match rlimit::increase_nofile_limit(u64::MAX) {
                    Ok(limit) => tracing::debug!(limit, "open file limit"),
                    Err(e) => tracing::warn!(error = %e, "cannot raise the open file limit"),
                }
                // Logged once, below, where the command ends.
                let listener = TcpListener::bind(config.bind).map_err(AppError::internal)?;
                run(listener, config, shutdown_signal()).await
            }
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        // Said once: an internal failure to the log, with its cause; anything the caller can
        // fix (an unknown user, a bad option) as one plain line.
        Err(e @ AppError::Internal(_)) => {
            tracing::error!(error = ?e, "hector stopped with an error");
            ExitCode::FAILURE
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "hector: {}", e.message());
            ExitCode::FAILURE
        }
    }
}

/// A state for one-off commands: connected, migrated, nothing started.
async fn command_state(config: Config) -> AppResult<AppState> {
    let instance: Arc<str> = config.instance_name().into();
    let db = db::connect(&config).await?;
    db::migrate(&db, &instance).await?;
    let key = auth::service::signing_key(&db, &config).await?;
    let mut state = AppState::new(db, config, instance, key);
    state.open_geoip()?;
    Ok(state)
}

/// The password for a user command: `HECTOR_NEW_PASSWORD`, or a generated one to print.
fn new_password() -> (String, bool) {
    match std::env::var("HECTOR_NEW_PASSWORD") {
        Ok(p) if !p.is_empty() => (p, false),
        _ => (auth::service::generate_password(), true),
    }
}

fn say(line: &str) {
    let _ = writeln!(std::io::stdout(), "{line}");
}

async fn user_command(config: Config, cmd: UserCommand) -> AppResult<()> {
    let state = command_state(config).await?;
    match cmd {
        UserCommand::Add {
            username,
            role,
            email,
        } => {
            let role = crate::actor::Role::parse(&role).ok_or_else(|| {
                AppError::bad_input("role must be admin, analyst, viewer, sensor or partner")
            })?;
            let (password, generated) = new_password();
            let new = auth::service::NewUser {
                username: username.clone(),
                email,
                display_name: None,
                role,
                password: auth::password::NewPassword::hash(&password).await?,
                support_group_ids: Vec::new(),
            };
            db::write(&state.db, |txn| {
                let new = new.clone();
                Box::pin(async move { auth::service::create_user(txn, new).await })
            })
            .await?;
            say(&format!("created user {username} ({})", role.as_str()));
            if generated {
                say(&format!("password (shown once): {password}"));
            }
        }
        UserCommand::ResetPassword { username } => {
            let (password, generated) = new_password();
            auth::service::reset_password(&state, &username, &password).await?;
            say(&format!(
                "password of {username} reset; their sessions ended"
            ));
            if generated {
                say(&format!("new password (shown once): {password}"));
            }
        }
    }
    Ok(())
}

async fn token_command(config: Config, cmd: TokenCommand) -> AppResult<()> {
    let state = command_state(config).await?;
    let TokenCommand::Create {
        username,
        name,
        scopes,
        expires_days,
    } = cmd;
    let user = auth::service::user_by_name(&state.db, &username)
        .await?
        .ok_or_else(|| AppError::not_found("user"))?;
    let scopes = crate::actor::Scopes::parse(&scopes)
        .ok_or_else(|| AppError::bad_input("scopes are a comma list of read, write, ingest"))?;
    let (_, secret) = db::write(&state.db, |txn| {
        let name = name.clone();
        Box::pin(async move {
            auth::service::create_api_token(txn, user.id, &name, scopes, expires_days).await
        })
    })
    .await?;
    say(&format!(
        "token {name:?} for {username} (shown once): {secret}"
    ));
    Ok(())
}

async fn import_command(config: Config, cmd: crate::config::ImportCommand) -> AppResult<()> {
    let state = command_state(config).await?;
    crate::import::run(&state, cmd, say).await
}

/// CORS for the configured origins only; none by default.
fn cors(origins: &[String]) -> actix_cors::Cors {
    let mut cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST"])
        .allowed_headers([
            actix_web::http::header::AUTHORIZATION,
            actix_web::http::header::CONTENT_TYPE,
            actix_web::http::header::HeaderName::from_static("apollo-require-preflight"),
        ])
        .max_age(3600);
    for origin in origins.iter().map(|o| o.trim()).filter(|o| !o.is_empty()) {
        cors = cors.allowed_origin(origin);
    }
    cors
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// A running Hector, as [`start`] returns it.
pub struct Server {
    pub addr: std::net::SocketAddr,
    pub state: AppState,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<AppResult<()>>,
}

impl Server {
    /// Stops the server and waits until everything has ended.
    pub async fn stop(self) -> AppResult<()> {
        self.stop.cancel();
        self.task.await.map_err(AppError::internal)?
    }
}

/// Starts Hector on `listener` in the background (tests and embedding).
pub async fn start(listener: TcpListener, config: Config) -> AppResult<Server> {
    let addr = listener.local_addr().map_err(AppError::internal)?;
    let stop = CancellationToken::new();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let token = stop.clone();
    let task = tokio::spawn(async move {
        serve(listener, config, token.cancelled_owned(), Some(ready_tx)).await
    });
    match ready_rx.await {
        Ok(state) => Ok(Server {
            addr,
            state,
            stop,
            task,
        }),
        Err(_) => match task.await {
            Ok(Err(e)) => Err(e),
            _ => Err(AppError::Internal("server failed to start".into())),
        },
    }
}

/// Runs Hector on `listener` until `shutdown` resolves, then stops the server, subscriptions
/// and jobs, within a few seconds.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> AppResult<()> {
    serve(listener, config, shutdown, None).await
}

async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
    ready: Option<tokio::sync::oneshot::Sender<AppState>>,
) -> AppResult<()> {
    let instance: Arc<str> = config.instance_name().into();
    tracing::info!(db.url = %config.database_url, instance = %instance, "starting");
    let mut db = db::connect(&config).await?;
    let db_stats = db::count_queries(&mut db);
    db::migrate(&db, &instance).await?;

    let key = auth::service::signing_key(&db, &config).await?;
    let mut state = AppState::new(db.clone(), config, instance, key);
    state.db_stats = db_stats;
    state.open_geoip()?;
    auth::service::bootstrap_admin(&state).await?;
    let schema = schema::build(&state);

    let mut background = tokio::task::JoinSet::new();
    let last_event = events::latest_id(&db).await?;
    background.spawn(events::run_tailer(
        db.clone(),
        state.events.clone(),
        last_event,
        Duration::from_millis(state.config.event_poll_ms),
        state.shutdown.clone(),
    ));
    background.spawn(auth::service::run_rechecks(state.clone()));
    background.spawn(db::run_checkpointer(db.clone(), state.shutdown.clone()));
    if state.config.darknet_fold_ms > 0 {
        background.spawn(crate::darknet::fold::run_folder(
            db.clone(),
            Duration::from_millis(state.config.darknet_fold_ms),
            state.config.darknet_fold_at,
            state.shutdown.clone(),
        ));
    }
    background.spawn(db::run_health_probe(
        db.clone(),
        state.db_health.clone(),
        state.shutdown.clone(),
    ));
    if state.config.scheduler {
        background.spawn(jobs::run_scheduler(
            state.clone(),
            crate::schema::jobs(&state),
            state.shutdown.clone(),
        ));
    }

    let body_limit = state.config.max_body_bytes;
    let origins = state.config.cors_origins.clone();
    let app_state = web::Data::new(state.clone());
    let app_schema = web::Data::new(schema);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(app_state.clone())
            .app_data(app_schema.clone())
            .app_data(web::PayloadConfig::new(body_limit))
            .configure(http::routes)
            .wrap_fn(|req, srv| {
                let id = req.extensions().get::<RequestId>().copied();
                let fut = srv.call(req);
                async move {
                    let mut res = fut.await?;
                    if let Some(value) =
                        id.and_then(|id| HeaderValue::from_str(&id.to_string()).ok())
                    {
                        res.headers_mut()
                            .insert(HeaderName::from_static("x-request-id"), value);
                    }
                    Ok(res)
                }
            })
            .wrap(cors(&origins))
            .wrap(TracingLogger::default())
    })
    .listen(listener)
    .map_err(AppError::internal)?
    .disable_signals()
    .keep_alive(KEEP_ALIVE)
    .shutdown_timeout(SHUTDOWN_GRACE.as_secs())
    .run();
    let handle = server.handle();
    let server_task = tokio::spawn(server);
    tracing::info!("listening");
    if let Some(ready) = ready {
        let _ = ready.send(state.clone());
    }

    shutdown.await;
    tracing::info!("shutting down");
    state.shutdown.cancel();
    handle.stop(true).await;
    let _ = server_task.await;
    // Jobs finish their current step; give them the same grace as connections.
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while background.join_next().await.is_some() {}
    })
    .await;
    background.abort_all();
    db.close_by_ref().await.ok();
    tracing::info!("stopped");
    Ok(())
}
