//! Users, sessions, tokens and sign-in. No GraphQL here.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{
    api_token, app_secret, app_user, refresh_token, session, support_group, user_support_group,
};
use rand::RngCore;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction,
    EntityTrait, QueryFilter,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::audit::{self, NewEntry};
use super::jwt;
use super::password::{self, NewPassword};
use super::throttle::{self, Policy};
use crate::actor::{Credential, Identity, Principal, Recheck, Role, Scopes};
use crate::config::{Config, Secret};
use crate::db;
use crate::error::{AppError, AppResult};
use crate::host::catalog;
use crate::page::{Page, PageRequest};
use crate::state::AppState;
use crate::validate;

pub const API_TOKEN_PREFIX: &str = "hct_";
const REFRESH_PREFIX: &str = "hcr_";
const INVALID_LOGIN: &str = "invalid username or password";

pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn random_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

pub fn generate_password() -> String {
    let mut bytes = [0u8; 18];
    rand::rng().fill_bytes(&mut bytes);
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Longest an account's own failures slow a password check from a fresh address. The account
/// is never blocked outright: anyone could keep it locked by guessing.
const ACCOUNT_SLOWDOWN_CAP: Duration = Duration::from_secs(3);

/// The back-off keys of one password check. Failures count per account-and-address and per
/// address, which block (the guesser waits); and per account, which only slows every
/// address down to [`ACCOUNT_SLOWDOWN_CAP`], so the owner can still sign in elsewhere.
#[derive(Clone)]
struct ThrottleKeys {
    blocking: [String; 2],
    account: String,
}

impl ThrottleKeys {
    fn new(account: &str, client_addr: &str) -> Self {
        Self {
            blocking: [
                format!("acct:{account}|{client_addr}"),
                format!("addr:{client_addr}"),
            ],
            account: format!("user:{account}"),
        }
    }

    /// Refuses while a blocking key is backing off; waits out (capped) an account's back-off.
    async fn wait_turn(&self, db: &impl ConnectionTrait) -> AppResult<()> {
        if let Some(wait) = throttle::blocked_for(db, &self.blocking).await? {
            return Err(AppError::RateLimited(format!(
                "too many failed password checks; try again in {} s",
                wait.as_secs().max(1)
            )));
        }
        if let Some(wait) = throttle::blocked_for(db, std::slice::from_ref(&self.account)).await? {
            tokio::time::sleep(wait.min(ACCOUNT_SLOWDOWN_CAP)).await;
        }
        Ok(())
    }

    async fn fail(&self, db: &impl ConnectionTrait, policy: Policy) -> AppResult<()> {
        let mut all = self.blocking.to_vec();
        all.push(self.account.clone());
        throttle::fail(db, &all, policy).await
    }

    /// Clears the account's counts; the address keeps its own, so one good password does not
    /// wash away a spray against other accounts.
    async fn succeed(&self, db: &impl ConnectionTrait) -> AppResult<()> {
        throttle::succeed(db, &self.blocking[0]).await?;
        throttle::succeed(db, &self.account).await
    }
}

fn policy(state: &AppState) -> Policy {
    Policy {
        free: state.config.login_free_attempts,
        max: Duration::from_secs(state.config.login_max_backoff_secs),
    }
}

const SIGNING_KEY_NAME: &str = "jwt_signing_key";

/// The secret that signs access tokens: the configured one, else the one generated for this
/// database on its first start (created once, shared by every replica, kept across restarts).
pub async fn signing_key(db: &impl ConnectionTrait, config: &Config) -> AppResult<Secret> {
    if let Some(secret) = &config.jwt_secret {
        return Ok(secret.clone());
    }
    let generated = random_secret("");
    let row = app_secret::ActiveModel {
        name: Set(SIGNING_KEY_NAME.into()),
        value: Set(generated),
        created_at: Set(db::now()),
    };
    // Another replica may have created it first; the stored one wins either way.
    app_secret::Entity::insert(row)
        .on_conflict_do_nothing_on([app_secret::Column::Name])
        .exec_without_returning(db)
        .await?;
    let stored = app_secret::Entity::find_by_id(SIGNING_KEY_NAME.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| AppError::Internal("the signing key was not stored".into()))?;
    tracing::info!("signing access tokens with the key generated for this database");
    Secret::from_str(&stored.value)
        .map_err(|_| AppError::Internal("the stored signing key is unreadable".into()))
}

/// What a successful sign-in or refresh hands out.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_at: DateTime<Utc>,
    pub user: app_user::Model,
}

/// Stores a new refresh token of a session and returns its secret.
async fn insert_refresh_token(db: &impl ConnectionTrait, session_id: i64) -> AppResult<String> {
    let refresh = random_secret(REFRESH_PREFIX);
    refresh_token::ActiveModel {
        session_id: Set(session_id),
        token_hash: Set(sha256_hex(&refresh)),
        created_at: Set(db::now()),
        used_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(refresh)
}

/// Signs an access token for a session whose refresh token is already committed.
fn sign_tokens(
    state: &AppState,
    user: app_user::Model,
    session_id: i64,
    refresh_token: String,
) -> AppResult<Tokens> {
    let expires_at =
        db::now() + chrono::Duration::minutes(i64::from(state.config.access_token_minutes));
    let access_token = jwt::issue(state.signing_key.expose(), user.id, session_id, expires_at)?;
    Ok(Tokens {
        access_token,
        refresh_token,
        expires_at,
        user,
    })
}

/// Runs `work` in one write transaction and then forgets every cached credential, so that a
/// change to who may do what holds from the very next request. Every change to users,
/// sessions or tokens goes through here.
pub async fn write_access<T, F>(state: &AppState, work: F) -> AppResult<T>
where
    T: Send,
    F: for<'c> Fn(&'c DatabaseTransaction) -> db::WriteFuture<'c, T> + Send + Sync,
{
    let out = db::write(&state.db, work).await?;
    state.auth_cache.clear();
    Ok(out)
}

pub async fn user_by_name(
    db: &impl ConnectionTrait,
    username: &str,
) -> AppResult<Option<app_user::Model>> {
    Ok(app_user::Entity::find()
        .filter(app_user::Column::UsernameKey.eq(username.trim().to_lowercase()))
        .one(db)
        .await?)
}

pub async fn user(db: &impl ConnectionTrait, id: i64) -> AppResult<Option<app_user::Model>> {
    Ok(app_user::Entity::find_by_id(id).one(db).await?)
}

/// The users of `ids` that exist, in no particular order.
pub async fn users_by_ids(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> AppResult<Vec<app_user::Model>> {
    Ok(app_user::Entity::find()
        .filter(app_user::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?)
}

/// Signs in. Unknown users, wrong passwords and disabled accounts get the same answer in
/// about the same time; repeated failures per account and per address back off.
pub async fn login(
    state: &AppState,
    username: &str,
    password: &str,
    client_addr: &str,
) -> AppResult<Tokens> {
    let db = &state.db;
    if username.len() > 64 || password.len() > password::MAX_LEN * 4 {
        return Err(AppError::BadCredentials(INVALID_LOGIN.into()));
    }
    let keys = ThrottleKeys::new(&username.trim().to_lowercase(), client_addr);
    let audit_entry = |outcome: &str, user_id: Option<i64>| NewEntry {
        actor_user_id: user_id,
        actor: username.chars().take(64).collect(),
        action: "login".into(),
        target: None,
        client_addr: Some(client_addr.to_owned()),
        outcome: outcome.into(),
        repeats: 1,
    };
    if let Err(e) = keys.wait_turn(db).await {
        audit::record(db, audit_entry("RATE_LIMITED", None)).await;
        return Err(e);
    }
    let found = user_by_name(db, username).await?;
    let matches =
        password::verify(password, found.as_ref().map(|u| u.password_hash.as_str())).await?;
    let user = match found {
        Some(user) if matches && !user.disabled => user,
        other => {
            keys.fail(db, policy(state)).await?;
            audit::record(db, audit_entry("UNAUTHENTICATED", other.map(|u| u.id))).await;
            return Err(AppError::BadCredentials(INVALID_LOGIN.into()));
        }
    };
    // The session, its first refresh token, the cleared back-off and the audit entry commit
    // together: a client never holds tokens of a session that was not stored.
    let session_days = i64::from(state.config.session_days);
    let (user, session_id, refresh) = db::write(db, |txn| {
        let (keys, user, entry) = (keys.clone(), user.clone(), audit_entry("OK", Some(user.id)));
        Box::pin(async move {
            keys.succeed(txn).await?;
            let now = db::now();
            let session = session::ActiveModel {
                user_id: Set(user.id),
                created_at: Set(now),
                expires_at: Set(now + chrono::Duration::days(session_days)),
                revoked_at: Set(None),
                revoked_reason: Set(None),
                ..Default::default()
            }
            .insert(txn)
            .await?;
            let mut seen: app_user::ActiveModel = user.into();
            seen.last_login_at = Set(Some(now));
            let user = seen.update(txn).await?;
            audit::record_in(txn, entry).await?;
            let refresh = insert_refresh_token(txn, session.id).await?;
            Ok((user, session.id, refresh))
        })
    })
    .await?;
    tracing::info!(user.id = user.id, "signed in");
    sign_tokens(state, user, session_id, refresh)
}

fn bad_refresh() -> AppError {
    AppError::BadCredentials("the refresh token is invalid, used, expired or revoked".into())
}

/// Exchanges a refresh token for new tokens. A token used twice means it leaked: the whole
/// session is revoked.
pub async fn refresh(state: &AppState, token: &str) -> AppResult<Tokens> {
    if !token.starts_with(REFRESH_PREFIX) || token.len() > 100 {
        return Err(bad_refresh());
    }
    let hash = sha256_hex(token);
    let outcome = db::write(&state.db, |txn| {
        let hash = hash.clone();
        Box::pin(async move { rotate_refresh_token(txn, &hash).await })
    })
    .await?;
    match outcome {
        Rotation::Rotated {
            user,
            session_id,
            refresh,
        } => sign_tokens(state, user, session_id, refresh),
        Rotation::Revoked { session_id, reason } => {
            // Committed on its own: the refusal must stick.
            write_access(state, |txn| {
                Box::pin(async move { revoke_session(txn, session_id, reason).await })
            })
            .await?;
            if reason == REUSED {
                tracing::warn!(
                    session.id = session_id,
                    "a rotated refresh token was reused; session revoked"
                );
            }
            Err(bad_refresh())
        }
    }
}

const REUSED: &str = "refresh token reused";

/// What presenting a refresh token led to.
enum Rotation {
    /// It was live: it is now used, and `refresh` replaces it.
    Rotated {
        user: app_user::Model,
        session_id: i64,
        refresh: String,
    },
    /// It was used before, or its user is disabled: the session must end.
    Revoked {
        session_id: i64,
        reason: &'static str,
    },
}

/// Marks a live refresh token used and stores its successor, in the caller's transaction.
async fn rotate_refresh_token(db: &impl ConnectionTrait, hash: &str) -> AppResult<Rotation> {
    let row = refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(hash))
        .one(db)
        .await?
        .filter(|r| bool::from(r.token_hash.as_bytes().ct_eq(hash.as_bytes())))
        .ok_or_else(bad_refresh)?;
    let session = live_session(db, row.session_id)
        .await
        .map_err(|e| match e {
            // Only a dead session makes the token bad; a database error stays one.
            AppError::Unauthenticated => bad_refresh(),
            other => other,
        })?;
    let revoked = |reason| {
        Ok(Rotation::Revoked {
            session_id: session.id,
            reason,
        })
    };
    if row.used_at.is_some() {
        return revoked(REUSED);
    }
    let claimed = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::val(db::now()))
        .filter(refresh_token::Column::Id.eq(row.id))
        .filter(refresh_token::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    if claimed.rows_affected != 1 {
        return revoked(REUSED);
    }
    let user = user(db, session.user_id).await?.ok_or_else(bad_refresh)?;
    if user.disabled {
        return revoked("user disabled");
    }
    let refresh = insert_refresh_token(db, session.id).await?;
    Ok(Rotation::Rotated {
        user,
        session_id: session.id,
        refresh,
    })
}

async fn live_session(db: &impl ConnectionTrait, id: i64) -> AppResult<session::Model> {
    let found = session::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    if found.revoked_at.is_some() || found.expires_at <= db::now() {
        return Err(AppError::Unauthenticated);
    }
    Ok(found)
}

pub async fn revoke_session(db: &impl ConnectionTrait, id: i64, reason: &str) -> AppResult<()> {
    session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::val(db::now()))
        .col_expr(session::Column::RevokedReason, Expr::val(reason))
        .filter(session::Column::Id.eq(id))
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Ends the session a refresh token belongs to.
pub async fn logout(state: &AppState, token: &str) -> AppResult<()> {
    let hash = sha256_hex(token);
    write_access(state, |txn| {
        let hash = hash.clone();
        Box::pin(async move {
            let row = refresh_token::Entity::find()
                .filter(refresh_token::Column::TokenHash.eq(hash))
                .one(txn)
                .await?
                .ok_or_else(bad_refresh)?;
            revoke_session(txn, row.session_id, "logout").await
        })
    })
    .await
}

/// Ends every session of a user, except `keep`; returns how many.
pub async fn revoke_sessions(
    db: &impl ConnectionTrait,
    user_id: i64,
    keep: Option<i64>,
    reason: &str,
) -> AppResult<u64> {
    let mut query = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::val(db::now()))
        .col_expr(session::Column::RevokedReason, Expr::val(reason))
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::RevokedAt.is_null());
    if let Some(keep) = keep {
        query = query.filter(session::Column::Id.ne(keep));
    }
    Ok(query.exec(db).await?.rows_affected)
}

/// Revokes every API token of a user; returns how many. A disabled, reset or possibly
/// compromised account's tokens must not come back with it.
pub async fn revoke_api_tokens_of(db: &impl ConnectionTrait, user_id: i64) -> AppResult<u64> {
    let done = api_token::Entity::update_many()
        .col_expr(api_token::Column::RevokedAt, Expr::val(db::now()))
        .filter(api_token::Column::UserId.eq(user_id))
        .filter(api_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    if done.rows_affected > 0 {
        tracing::info!(
            user.id = user_id,
            tokens = done.rows_affected,
            "API tokens revoked"
        );
    }
    Ok(done.rows_affected)
}

/// Ends every session of `target` on behalf of `by`: yourself, or anyone for an admin.
pub async fn revoke_sessions_for(
    db: &impl ConnectionTrait,
    by: &Principal,
    target: i64,
) -> AppResult<u64> {
    if target != by.user_id && by.role != Role::Admin {
        return Err(AppError::Forbidden(
            "only admins end other users' sessions".into(),
        ));
    }
    revoke_sessions(db, target, None, "revoked").await
}

/// Who a bearer credential (an access JWT or an API token) belongs to.
pub async fn authenticate(state: &AppState, bearer: &str) -> AppResult<Identity> {
    let bearer = bearer.trim();
    if bearer.is_empty() || bearer.len() > 4096 {
        return Err(AppError::Unauthenticated);
    }
    let key = sha256_hex(bearer);
    if let Some(identity) = state.auth_cache.get(&key) {
        return Ok(identity);
    }
    let identity = if bearer.starts_with(API_TOKEN_PREFIX) {
        authenticate_token(state, &key).await?
    } else {
        authenticate_jwt(state, bearer).await?
    };
    state.auth_cache.put(key, identity.clone());
    Ok(identity)
}

async fn authenticate_jwt(state: &AppState, token: &str) -> AppResult<Identity> {
    let claims = jwt::verify(state.signing_key.expose(), token)?;
    let user_id: i64 = claims.sub.parse().map_err(|_| AppError::Unauthenticated)?;
    let session = live_session(&state.db, claims.sid).await?;
    if session.user_id != user_id {
        return Err(AppError::Unauthenticated);
    }
    let expires_at = DateTime::from_timestamp(claims.exp, 0);
    principal(
        state,
        user_id,
        Credential::Session {
            session_id: session.id,
        },
        expires_at,
    )
    .await
}

async fn authenticate_token(state: &AppState, hash: &str) -> AppResult<Identity> {
    let db = &state.db;
    let token = api_token::Entity::find()
        .filter(api_token::Column::TokenHash.eq(hash))
        .one(db)
        .await?
        .filter(|t| bool::from(t.token_hash.as_bytes().ct_eq(hash.as_bytes())))
        .ok_or(AppError::Unauthenticated)?;
    let now = db::now();
    if token.revoked_at.is_some() || token.expires_at.is_some_and(|at| at <= now) {
        return Err(AppError::Unauthenticated);
    }
    let scopes = Scopes::parse(&token.scopes).ok_or(AppError::Unauthenticated)?;
    // Last use is kept to the minute, so a busy sensor does not write on every request.
    if token
        .last_used_at
        .is_none_or(|at| now - at > chrono::Duration::seconds(60))
    {
        api_token::Entity::update_many()
            .col_expr(api_token::Column::LastUsedAt, Expr::val(now))
            .filter(api_token::Column::Id.eq(token.id))
            .exec(db)
            .await?;
    }
    principal(
        state,
        token.user_id,
        Credential::ApiToken {
            token_id: token.id,
            scopes,
        },
        token.expires_at,
    )
    .await
}

async fn principal(
    state: &AppState,
    user_id: i64,
    credential: Credential,
    expires_at: Option<DateTime<Utc>>,
) -> AppResult<Identity> {
    let user = user(&state.db, user_id)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    if user.disabled {
        return Err(AppError::Unauthenticated);
    }
    let role = Role::parse(&user.role).ok_or(AppError::Unauthenticated)?;
    Ok(Identity::User(Principal {
        user_id: user.id,
        username: user.username,
        role,
        support_groups: support_groups_of(&state.db, user_id).await?,
        credential,
        expires_at,
    }))
}

/// The support groups of a user, as rows.
pub async fn support_group_models(
    db: &impl ConnectionTrait,
    user_id: i64,
) -> AppResult<Vec<support_group::Model>> {
    let ids = support_groups_of(db, user_id).await?;
    catalog::by_ids::<support_group::Entity>(db, &ids).await
}

pub async fn support_groups_of(db: &impl ConnectionTrait, user_id: i64) -> AppResult<Vec<i64>> {
    Ok(user_support_group::Entity::find()
        .filter(user_support_group::Column::UserId.eq(user_id))
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.support_group_id)
        .collect())
}

/// Looks the principals of open subscriptions up again, all together: a handful of queries
/// per 500 principals, whatever their number. A database error is an error, never taken for
/// a revocation.
pub async fn recheck_many(
    db: &impl ConnectionTrait,
    watched: &[(u64, Principal)],
) -> AppResult<Vec<(u64, Recheck)>> {
    use std::collections::{HashMap, HashSet};
    let now = db::now();
    let mut out = Vec::with_capacity(watched.len());
    for chunk in watched.chunks(500) {
        let mut sessions = HashSet::new();
        let mut tokens = HashSet::new();
        let mut users = HashSet::new();
        for (_, p) in chunk {
            users.insert(p.user_id);
            match p.credential {
                Credential::Session { session_id } => sessions.insert(session_id),
                Credential::ApiToken { token_id, .. } => tokens.insert(token_id),
            };
        }
        let live_sessions: HashSet<i64> = if sessions.is_empty() {
            HashSet::new()
        } else {
            session::Entity::find()
                .filter(session::Column::Id.is_in(sessions))
                .filter(session::Column::RevokedAt.is_null())
                .filter(session::Column::ExpiresAt.gt(now))
                .all(db)
                .await?
                .into_iter()
                .map(|s| s.id)
                .collect()
        };
        let live_tokens: HashSet<i64> = if tokens.is_empty() {
            HashSet::new()
        } else {
            api_token::Entity::find()
                .filter(api_token::Column::Id.is_in(tokens))
                .filter(api_token::Column::RevokedAt.is_null())
                .all(db)
                .await?
                .into_iter()
                .filter(|t| t.expires_at.is_none_or(|at| at > now))
                .map(|t| t.id)
                .collect()
        };
        let user_ids: Vec<i64> = users.into_iter().collect();
        let found: HashMap<i64, app_user::Model> = app_user::Entity::find()
            .filter(app_user::Column::Id.is_in(user_ids.clone()))
            .all(db)
            .await?
            .into_iter()
            .map(|u| (u.id, u))
            .collect();
        let mut groups: HashMap<i64, Vec<i64>> = HashMap::new();
        for link in user_support_group::Entity::find()
            .filter(user_support_group::Column::UserId.is_in(user_ids))
            .all(db)
            .await?
        {
            groups
                .entry(link.user_id)
                .or_default()
                .push(link.support_group_id);
        }
        for (id, p) in chunk {
            let live = p.expires_at.is_none_or(|at| at > now)
                && match p.credential {
                    Credential::Session { session_id } => live_sessions.contains(&session_id),
                    Credential::ApiToken { token_id, .. } => live_tokens.contains(&token_id),
                };
            let verdict = match found.get(&p.user_id).filter(|u| live && !u.disabled) {
                None => Recheck::Invalid,
                Some(user) => {
                    let mut now_in = groups.get(&user.id).cloned().unwrap_or_default();
                    let mut before = p.support_groups.clone();
                    now_in.sort_unstable();
                    before.sort_unstable();
                    if Role::parse(&user.role) == Some(p.role) && now_in == before {
                        Recheck::Unchanged
                    } else {
                        Recheck::AccessChanged
                    }
                }
            };
            out.push((*id, verdict));
        }
    }
    Ok(out)
}

/// How often open subscriptions are looked up again.
pub const RECHECK_EVERY: Duration = Duration::from_secs(5);

/// Re-checks every open subscription's caller every [`RECHECK_EVERY`] until shutdown. While
/// the database is away, verdicts stay as they were (logged once per outage).
pub async fn run_rechecks(state: AppState) {
    let mut tick = tokio::time::interval(RECHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let watched = state.watchers.snapshot();
        if watched.is_empty() {
            continue;
        }
        match recheck_many(&state.db, &watched).await {
            Ok(verdicts) => {
                if failing {
                    tracing::info!("subscribers' credentials can be checked again");
                    failing = false;
                }
                for (id, verdict) in verdicts {
                    state.watchers.tell(id, verdict);
                }
            }
            Err(e) if !failing => {
                tracing::warn!(error = ?e, "cannot re-check subscribers' credentials; they stay open");
                failing = true;
            }
            Err(_) => {}
        }
    }
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub role: Role,
    pub password: NewPassword,
    pub support_group_ids: Vec<i64>,
}

fn check_username(name: &str) -> AppResult<String> {
    let name = name.trim();
    let ok = (2..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
    if !ok {
        return Err(AppError::bad_input(
            "a username has 2 to 64 letters, digits, dots, dashes, underscores or @",
        ));
    }
    Ok(name.to_owned())
}

pub async fn create_user(db: &impl ConnectionTrait, new: NewUser) -> AppResult<app_user::Model> {
    let username = check_username(&new.username)?;
    let email = validate::optional_line("email", new.email.as_deref(), 254)?;
    let display_name = validate::optional_line("displayName", new.display_name.as_deref(), 255)?;
    validate::bounded("supportGroupIds", &new.support_group_ids, 100)?;
    catalog::require_all::<support_group::Entity>(db, &new.support_group_ids).await?;
    let now = db::now();
    let user = app_user::ActiveModel {
        username: Set(username.clone()),
        username_key: Set(username.to_lowercase()),
        email: Set(email),
        display_name: Set(display_name),
        role: Set(new.role.as_str().to_owned()),
        password_hash: Set(new.password.phc().to_owned()),
        disabled: Set(false),
        last_login_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|e| AppError::conflict_on_unique(e, format!("a user named {username:?} exists")))?;
    set_support_groups(db, user.id, &new.support_group_ids).await?;
    tracing::info!(user.id = user.id, role = new.role.as_str(), "user created");
    Ok(user)
}

async fn set_support_groups(db: &impl ConnectionTrait, user_id: i64, ids: &[i64]) -> AppResult<()> {
    user_support_group::Entity::delete_many()
        .filter(user_support_group::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    let mut unique = ids.to_vec();
    unique.sort_unstable();
    unique.dedup();
    let rows: Vec<_> = unique
        .into_iter()
        .map(|g| user_support_group::ActiveModel {
            user_id: Set(user_id),
            support_group_id: Set(g),
        })
        .collect();
    if !rows.is_empty() {
        user_support_group::Entity::insert_many(rows)
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Changes to a user (admin).
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub email: Option<Option<String>>,
    pub display_name: Option<Option<String>>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    pub support_group_ids: Option<Vec<i64>>,
}

/// Applies changes; disabling a user ends their sessions and revokes their API tokens in the
/// same transaction.
pub async fn update_user(
    db: &impl ConnectionTrait,
    id: i64,
    changes: UserChanges,
) -> AppResult<app_user::Model> {
    let found = user(db, id)
        .await?
        .ok_or_else(|| AppError::not_found("user"))?;
    if let Some(ids) = &changes.support_group_ids {
        validate::bounded("supportGroupIds", ids, 100)?;
        catalog::require_all::<support_group::Entity>(db, ids).await?;
    }
    let mut row: app_user::ActiveModel = found.into();
    if let Some(email) = changes.email {
        row.email = Set(validate::optional_line("email", email.as_deref(), 254)?);
    }
    if let Some(name) = changes.display_name {
        row.display_name = Set(validate::optional_line(
            "displayName",
            name.as_deref(),
            255,
        )?);
    }
    if let Some(role) = changes.role {
        row.role = Set(role.as_str().to_owned());
    }
    if let Some(disabled) = changes.disabled {
        row.disabled = Set(disabled);
    }
    row.updated_at = Set(db::now());
    let updated = row.update(db).await?;
    if let Some(ids) = &changes.support_group_ids {
        set_support_groups(db, id, ids).await?;
    }
    if changes.disabled == Some(true) {
        revoke_sessions(db, id, None, "user disabled").await?;
        revoke_api_tokens_of(db, id).await?;
    }
    Ok(updated)
}

/// Sets a new password after checking the current one; other sessions and every API token
/// end (a password is changed when it may have leaked).
/// Wrong current passwords back off as failed sign-ins do, under the same keys; those
/// failures are committed on their own, before the refusal.
pub async fn change_password(
    state: &AppState,
    principal: &Principal,
    current: &str,
    new: &str,
    client_addr: &str,
) -> AppResult<()> {
    let found = user(&state.db, principal.user_id)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let keys = ThrottleKeys::new(&found.username_key, client_addr);
    keys.wait_turn(&state.db).await?;
    if current.len() > password::MAX_LEN * 4
        || !password::verify(current, Some(&found.password_hash)).await?
    {
        keys.fail(&state.db, policy(state)).await?;
        return Err(AppError::BadCredentials(
            "the current password is wrong".into(),
        ));
    }
    let new = NewPassword::hash(new).await?;
    let keep = match principal.credential {
        Credential::Session { session_id } => Some(session_id),
        Credential::ApiToken { .. } => None,
    };
    let user_id = principal.user_id;
    write_access(state, |txn| {
        let (keys, new) = (keys.clone(), new.clone());
        Box::pin(async move {
            keys.succeed(txn).await?;
            replace_password(txn, user_id, &new, keep, "password changed").await
        })
    })
    .await
}

/// Sets a password without the old one (CLI) and ends every session and API token.
pub async fn reset_password(state: &AppState, username: &str, new: &str) -> AppResult<()> {
    let new = NewPassword::hash(new).await?;
    write_access(state, |txn| {
        let (new, username) = (new.clone(), username.to_owned());
        Box::pin(async move {
            let found = user_by_name(txn, &username)
                .await?
                .ok_or_else(|| AppError::not_found("user"))?;
            replace_password(txn, found.id, &new, None, "password reset").await
        })
    })
    .await
}

/// Stores a new password and ends the user's sessions (but `keep`) and API tokens.
pub async fn replace_password(
    db: &impl ConnectionTrait,
    user_id: i64,
    new: &NewPassword,
    keep: Option<i64>,
    reason: &str,
) -> AppResult<()> {
    let changed = app_user::Entity::update_many()
        .col_expr(app_user::Column::PasswordHash, Expr::val(new.phc()))
        .col_expr(app_user::Column::UpdatedAt, Expr::val(db::now()))
        .filter(app_user::Column::Id.eq(user_id))
        .exec(db)
        .await?;
    if changed.rows_affected != 1 {
        return Err(AppError::not_found("user"));
    }
    revoke_sessions(db, user_id, keep, reason).await?;
    revoke_api_tokens_of(db, user_id).await?;
    Ok(())
}

/// Creates `admin` when there are no users: with `HECTOR_ADMIN_PASSWORD`, or a random
/// password written once to the log.
pub async fn bootstrap_admin(state: &AppState) -> AppResult<()> {
    use sea_orm::PaginatorTrait;
    if app_user::Entity::find().count(&state.db).await? > 0 {
        return Ok(());
    }
    let (password, generated) = match &state.config.admin_password {
        Some(p) => (p.expose().to_owned(), false),
        None => (generate_password(), true),
    };
    let new = NewUser {
        username: "admin".into(),
        email: None,
        display_name: Some("Administrator".into()),
        role: Role::Admin,
        password: NewPassword::hash(&password).await?,
        support_group_ids: Vec::new(),
    };
    let created = db::write(&state.db, |txn| {
        let new = new.clone();
        Box::pin(async move { create_user(txn, new).await })
    })
    .await;
    match created {
        Ok(_) if generated => tracing::warn!(
            username = "admin",
            password = %password,
            "created the first user; this password is shown once: sign in and change it"
        ),
        Ok(_) => tracing::info!(
            username = "admin",
            "created the first user from HECTOR_ADMIN_PASSWORD"
        ),
        // Another replica created it first.
        Err(AppError::Conflict(_)) => {}
        Err(e) => return Err(e),
    }
    Ok(())
}

/// Creates an API token; the secret is returned here and never again.
pub async fn create_api_token(
    db: &impl ConnectionTrait,
    owner: i64,
    name: &str,
    scopes: Scopes,
    expires_in_days: Option<u32>,
) -> AppResult<(api_token::Model, String)> {
    let name = validate::line("name", name, 100)?;
    if scopes == Scopes::default() {
        return Err(AppError::bad_input("give the token at least one scope"));
    }
    if expires_in_days.is_some_and(|d| d == 0 || d > 3650) {
        return Err(AppError::bad_input(
            "`expiresInDays` must be between 1 and 3650",
        ));
    }
    let secret = random_secret(API_TOKEN_PREFIX);
    let now = db::now();
    let token = api_token::ActiveModel {
        user_id: Set(owner),
        name: Set(name),
        prefix: Set(secret.chars().take(12).collect()),
        token_hash: Set(sha256_hex(&secret)),
        scopes: Set(scopes.names().join(",")),
        expires_at: Set(expires_in_days.map(|d| now + chrono::Duration::days(i64::from(d)))),
        last_used_at: Set(None),
        revoked_at: Set(None),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    tracing::info!(token.id = token.id, user.id = owner, "API token created");
    Ok((token, secret))
}

/// Revokes a token; only its owner or an admin may.
pub async fn revoke_api_token(
    db: &impl ConnectionTrait,
    id: i64,
    by: &Principal,
) -> AppResult<api_token::Model> {
    let token = api_token::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|t| by.role == Role::Admin || t.user_id == by.user_id)
        .ok_or_else(|| AppError::not_found("API token"))?;
    let mut row: api_token::ActiveModel = token.into();
    row.revoked_at = Set(Some(db::now()));
    Ok(row.update(db).await?)
}

/// Whose API tokens `by` sees: their own, or everyone's for an admin.
fn token_owner(by: &Principal) -> Option<i64> {
    (by.role != Role::Admin).then_some(by.user_id)
}

/// API token `id`, if `by` sees it (their own, or any for an admin).
pub async fn api_token_for(
    db: &impl ConnectionTrait,
    by: &Principal,
    id: i64,
) -> AppResult<Option<api_token::Model>> {
    let found = api_token::Entity::find_by_id(id).one(db).await?;
    Ok(found.filter(|t| token_owner(by).is_none_or(|owner| t.user_id == owner)))
}

/// User `id`, if `by` may see them: admins see everyone, others only themselves.
pub async fn user_for(
    db: &impl ConnectionTrait,
    by: &Principal,
    id: i64,
) -> AppResult<Option<app_user::Model>> {
    if by.role != Role::Admin && by.user_id != id {
        return Ok(None);
    }
    user(db, id).await
}

/// The API tokens `by` sees, in time order.
pub async fn api_tokens_for(
    db: &impl ConnectionTrait,
    by: &Principal,
    newest_first: bool,
    page: &PageRequest,
) -> AppResult<Page<api_token::Model>> {
    api_tokens(db, token_owner(by), newest_first, page).await
}

/// How many API tokens `by` sees.
pub async fn count_api_tokens_for(db: &impl ConnectionTrait, by: &Principal) -> AppResult<u64> {
    use sea_orm::PaginatorTrait;
    let mut query = api_token::Entity::find();
    if let Some(owner) = token_owner(by) {
        query = query.filter(api_token::Column::UserId.eq(owner));
    }
    Ok(query.count(db).await?)
}

/// How many users there are.
pub async fn count_users(db: &impl ConnectionTrait) -> AppResult<u64> {
    use sea_orm::PaginatorTrait;
    Ok(app_user::Entity::find().count(db).await?)
}

/// API tokens in time order (newest first when `newest_first`); of one owner unless `owner`
/// is `None` (admins).
async fn api_tokens(
    db: &impl ConnectionTrait,
    owner: Option<i64>,
    newest_first: bool,
    page: &PageRequest,
) -> AppResult<Page<api_token::Model>> {
    let mut query = api_token::Entity::find();
    if let Some(owner) = owner {
        query = query.filter(api_token::Column::UserId.eq(owner));
    }
    crate::page::by_id(
        db,
        query,
        api_token::Column::Id,
        if newest_first {
            "apiToken:ID:DESC"
        } else {
            "apiToken:ID:ASC"
        },
        newest_first,
        page,
        |r| r.id,
    )
    .await
}

/// Users, oldest first.
pub async fn users(
    db: &impl ConnectionTrait,
    order: crate::page::KeyOrder,
    page: &PageRequest,
) -> AppResult<Page<app_user::Model>> {
    crate::page::by_key(
        db,
        app_user::Entity::find(),
        crate::page::KeyedList {
            what: "user",
            key: app_user::Column::UsernameKey,
            id: app_user::Column::Id,
            key_of: |u| &u.username_key,
            id_of: |u| u.id,
        },
        order,
        page,
    )
    .await
}
