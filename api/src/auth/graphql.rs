//! Sign-in, sessions, users, API tokens and the audit log in GraphQL.

use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, Result, SimpleObject};
use std::collections::HashMap;

use crate::graphql::scalars::DateTime;
use async_graphql::dataloader::{DataLoader, Loader};
use entity::{api_token, app_user, audit_entry};

use super::audit::{self, AuditFilter};
use super::password::NewPassword;
use super::service::{self, NewUser, Tokens, UserChanges};
use crate::actor::{ClientAddr, Principal, Role, Scopes};
use crate::db;
use crate::error::AppError;
use crate::graphql::connection::{
    NameOrder, TimeOrder, TotalCount, connection, list_reader, page, page_cost,
};
use crate::graphql::errors::BatchError;
use crate::graphql::guard::{Access, Area};
use crate::graphql::node;
use crate::graphql::{identity, state};
use crate::host::graphql::{ScanExclusion, SupportGroup};
use crate::state::AppState;

/// A role, as the API names it.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "Role")]
pub enum RoleName {
    /// Everything, including users and support groups.
    Admin,
    /// Reads and changes the inventory of their support groups.
    Analyst,
    /// Reads the inventory of their support groups.
    Viewer,
    /// Sends sensor data (ingest only).
    Sensor,
    /// Reads what is shared with partner organisations.
    Partner,
}

impl From<RoleName> for Role {
    fn from(r: RoleName) -> Self {
        match r {
            RoleName::Admin => Role::Admin,
            RoleName::Analyst => Role::Analyst,
            RoleName::Viewer => Role::Viewer,
            RoleName::Sensor => Role::Sensor,
            RoleName::Partner => Role::Partner,
        }
    }
}

impl From<Role> for RoleName {
    fn from(r: Role) -> Self {
        match r {
            Role::Admin => RoleName::Admin,
            Role::Analyst => RoleName::Analyst,
            Role::Viewer => RoleName::Viewer,
            Role::Sensor => RoleName::Sensor,
            Role::Partner => RoleName::Partner,
        }
    }
}

/// What an API token may do, within its owner's role.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum TokenScope {
    /// Read queries and subscriptions.
    Read,
    /// Mutations.
    Write,
    /// Sensor ingest.
    Ingest,
}

/// What an audit entry records: a mutation by its name, or a sign-in attempt (`LOGIN`).
/// Every audited mutation has a value here (a test walks the schema).
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum AuditAction {
    /// The `addHosts` mutation.
    AddHosts,
    /// The `addHostsToGroups` mutation.
    AddHostsToGroups,
    /// The `addIncidentNote` mutation.
    AddIncidentNote,
    /// The `cancelScanRun` mutation.
    CancelScanRun,
    /// The `changeIncidentStatus` mutation.
    ChangeIncidentStatus,
    /// The `changePassword` mutation.
    ChangePassword,
    /// The `clearScanExclusion` mutation.
    ClearScanExclusion,
    /// The `createApiToken` mutation.
    CreateApiToken,
    /// The `createArticle` mutation.
    CreateArticle,
    /// The `createFeed` mutation.
    CreateFeed,
    /// The `createHost` mutation.
    CreateHost,
    /// The `createHostGroup` mutation.
    CreateHostGroup,
    /// The `createIncident` mutation.
    CreateIncident,
    /// The `createIncidentLookup` mutation.
    CreateIncidentLookup,
    /// The `createLocation` mutation.
    CreateLocation,
    /// The `createScan` mutation.
    CreateScan,
    /// The `createScanProfile` mutation.
    CreateScanProfile,
    /// The `createSensor` mutation.
    CreateSensor,
    /// The `createSensorToken` mutation.
    CreateSensorToken,
    /// The `createSupportGroup` mutation.
    CreateSupportGroup,
    /// The `createTag` mutation.
    CreateTag,
    /// The `createUrl` mutation.
    CreateUrl,
    /// The `createUser` mutation.
    CreateUser,
    /// The `deleteArticle` mutation.
    DeleteArticle,
    /// The `deleteFeed` mutation.
    DeleteFeed,
    /// The `deleteHost` mutation.
    DeleteHost,
    /// The `deleteHostGroup` mutation.
    DeleteHostGroup,
    /// The `deleteIncident` mutation.
    DeleteIncident,
    /// The `deleteLocation` mutation.
    DeleteLocation,
    /// The `deleteScan` mutation.
    DeleteScan,
    /// The `deleteScanProfile` mutation.
    DeleteScanProfile,
    /// The `deleteSensor` mutation.
    DeleteSensor,
    /// The `deleteSupportGroup` mutation.
    DeleteSupportGroup,
    /// The `deleteTag` mutation.
    DeleteTag,
    /// The `deleteUrl` mutation.
    DeleteUrl,
    /// The `importFindings` mutation.
    ImportFindings,
    /// The `importNmapXml` mutation.
    ImportNmapXml,
    /// The `importOpml` mutation.
    ImportOpml,
    /// The `logout` mutation.
    Logout,
    /// The `refreshFeed` mutation.
    RefreshFeed,
    /// The `removeHostsFromGroups` mutation.
    RemoveHostsFromGroups,
    /// The `revokeApiToken` mutation.
    RevokeApiToken,
    /// The `revokeSessions` mutation.
    RevokeSessions,
    /// The `setScanExclusion` mutation.
    SetScanExclusion,
    /// The `startScan` mutation.
    StartScan,
    /// The `tagHosts` mutation.
    TagHosts,
    /// The `untagHosts` mutation.
    UntagHosts,
    /// The `updateFeed` mutation.
    UpdateFeed,
    /// The `updateFinding` mutation.
    UpdateFinding,
    /// The `updateHost` mutation.
    UpdateHost,
    /// The `updateHostGroup` mutation.
    UpdateHostGroup,
    /// The `updateIncident` mutation.
    UpdateIncident,
    /// The `updateIncidentLookup` mutation.
    UpdateIncidentLookup,
    /// The `updateLocation` mutation.
    UpdateLocation,
    /// The `updateScan` mutation.
    UpdateScan,
    /// The `updateScanProfile` mutation.
    UpdateScanProfile,
    /// The `updateSensor` mutation.
    UpdateSensor,
    /// The `updateSupportGroup` mutation.
    UpdateSupportGroup,
    /// The `updateTag` mutation.
    UpdateTag,
    /// The `updateUrl` mutation.
    UpdateUrl,
    /// The `updateUser` mutation.
    UpdateUser,
    /// The `updateVulnerability` mutation.
    UpdateVulnerability,
    /// A sign-in attempt.
    Login,
    /// An action this version no longer has (recorded by an earlier one).
    Other,
}

impl AuditAction {
    /// The name the audit log stores: the mutation's field name, e.g. `createHost`.
    pub fn name(self) -> String {
        use async_graphql::resolver_utils::EnumType;
        Self::items()
            .iter()
            .find(|item| item.value == self)
            .map(|item| camel_case(item.name))
            .unwrap_or_default()
    }

    /// The action of a stored name; `OTHER` for a name this version does not know.
    pub fn from_name(name: &str) -> Self {
        use async_graphql::resolver_utils::EnumType;
        Self::items()
            .iter()
            .find(|item| camel_case(item.name) == name)
            .map_or(Self::Other, |item| item.value)
    }
}

/// `CREATE_HOST` -> `createHost`.
fn camel_case(screaming: &str) -> String {
    let mut out = String::new();
    for (i, word) in screaming.split('_').enumerate() {
        let lower = word.to_ascii_lowercase();
        let mut chars = lower.chars();
        if i > 0 {
            out.extend(chars.next().map(|c| c.to_ascii_uppercase()));
        }
        out.push_str(chars.as_str());
    }
    out
}

/// How an audited action ended: `OK`, or the code of the error it ended with.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum AuditOutcome {
    /// It succeeded.
    Ok,
    /// The caller was not signed in, or their credential was not valid.
    Unauthenticated,
    /// The caller's role or scope does not allow it.
    Forbidden,
    /// What it named does not exist (or is not visible to the caller).
    NotFound,
    /// An argument was invalid.
    BadUserInput,
    /// It conflicted with existing data (a duplicate name or address).
    Conflict,
    /// The caller had sent too much, too fast.
    RateLimited,
    /// The request was too deep or too costly.
    QueryTooComplex,
    /// It failed inside Hector (the database, most often); nothing was changed.
    Internal,
    /// It failed in a way this version has no code for.
    Error,
}

impl AuditOutcome {
    /// The code as stored: `OK` or an error code.
    pub fn code(self) -> &'static str {
        use crate::error::code as codes;
        match self {
            Self::Ok => "OK",
            Self::Unauthenticated => codes::UNAUTHENTICATED,
            Self::Forbidden => codes::FORBIDDEN,
            Self::NotFound => codes::NOT_FOUND,
            Self::BadUserInput => codes::BAD_USER_INPUT,
            Self::Conflict => codes::CONFLICT,
            Self::RateLimited => codes::RATE_LIMITED,
            Self::QueryTooComplex => codes::QUERY_TOO_COMPLEX,
            Self::Internal => codes::INTERNAL,
            Self::Error => "ERROR",
        }
    }

    /// The outcome of a stored code; `ERROR` for a code this version does not know.
    pub fn from_code(code: &str) -> Self {
        use async_graphql::resolver_utils::EnumType;
        Self::items()
            .iter()
            .find(|item| item.value.code() == code)
            .map_or(Self::Error, |item| item.value)
    }
}

/// Users by id for the fields that name one (a token's owner, an audit entry's actor): batched
/// per request, never cached.
pub struct UserLoader(AppState);

pub type Users = DataLoader<UserLoader>;

/// The user loader of a schema (registered by the assembly).
pub fn user_loader(state: &AppState) -> Users {
    DataLoader::new(UserLoader(state.clone()), tokio::spawn)
}

impl Loader<i64> for UserLoader {
    type Value = app_user::Model;
    type Error = BatchError;

    async fn load(&self, ids: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let found = service::users_by_ids(&self.0.db, ids).await?;
        Ok(found.into_iter().map(|u| (u.id, u)).collect())
    }
}

/// The user `id`, through the request's batch.
async fn users(ctx: &Context<'_>, id: i64) -> Result<Option<User>> {
    let loader = ctx
        .data::<Users>()
        .map_err(|_| AppError::Internal("the user loader is not registered".into()))?;
    Ok(loader.load_one(id).await?.map(User))
}

/// A person who signs in. The password hash is never exposed.
pub struct User(pub app_user::Model);

impl User {
    /// Whether the caller sees this user's private details: admins do, and the user does.
    /// Others meet a user only as the author of something (a token's owner, an exclusion's
    /// setter) and see who it is, not their address, groups or sign-ins.
    fn seen_in_full(&self, ctx: &Context<'_>) -> bool {
        identity(ctx)
            .principal()
            .is_some_and(|p| p.role == Role::Admin || p.user_id == self.0.id)
    }

    fn require_full_view(&self, ctx: &Context<'_>) -> Result<(), AppError> {
        if self.seen_in_full(ctx) {
            Ok(())
        } else {
            Err(AppError::Forbidden(
                "only admins and the user see this".into(),
            ))
        }
    }
}

impl From<app_user::Model> for User {
    fn from(m: app_user::Model) -> Self {
        Self(m)
    }
}

/// A person who signs in. The password hash is never exposed.
#[Object]
impl User {
    /// Its global id.
    pub async fn id(&self) -> ID {
        node::encode("User", self.0.id)
    }

    /// The name they sign in with.
    async fn username(&self) -> &str {
        &self.0.username
    }

    /// Their e-mail address; null unless you are an admin or this user.
    async fn email(&self, ctx: &Context<'_>) -> Option<&str> {
        self.seen_in_full(ctx)
            .then_some(self.0.email.as_deref())
            .flatten()
    }

    /// The name shown for them.
    async fn display_name(&self) -> Option<&str> {
        self.0.display_name.as_deref()
    }

    /// What the user may do.
    async fn role(&self) -> Result<RoleName> {
        Ok(Role::parse(&self.0.role)
            .map(RoleName::from)
            .ok_or_else(|| {
                AppError::Internal(format!("user {} has an unknown role", self.0.id).into())
            })?)
    }

    /// Whether they are barred from signing in (admins, or this user).
    async fn disabled(&self, ctx: &Context<'_>) -> Result<bool> {
        self.require_full_view(ctx)?;
        Ok(self.0.disabled)
    }

    /// The support groups whose hosts a non-admin sees (admins, or this user).
    async fn support_groups(&self, ctx: &Context<'_>) -> Result<Vec<SupportGroup>> {
        self.require_full_view(ctx)?;
        let db = &state(ctx)?.db;
        let ids = service::support_groups_of(db, self.0.id).await?;
        let groups =
            crate::host::catalog::by_ids::<entity::support_group::Entity>(db, &ids).await?;
        Ok(groups.into_iter().map(SupportGroup).collect())
    }

    /// When they last signed in; null unless you are an admin or this user.
    async fn last_login_at(&self, ctx: &Context<'_>) -> Option<DateTime> {
        self.seen_in_full(ctx)
            .then_some(self.0.last_login_at.map(DateTime))
            .flatten()
    }

    /// When the account was created.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
}

/// Who set a port-scan exclusion, as a user.
#[async_graphql::ComplexObject]
impl ScanExclusion {
    /// The id of the user who set it; null when set by a job or a user since deleted.
    async fn set_by_id(&self) -> Option<ID> {
        self.set_by_user_id.map(|id| node::encode("User", id))
    }

    /// The user who set it; null when set by a job or a user since deleted.
    async fn set_by(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        match self.set_by_user_id {
            Some(id) => users(ctx, id).await,
            None => Ok(None),
        }
    }
}

/// An API token. Its secret was shown once, at creation.
pub struct ApiToken(pub api_token::Model);

impl From<api_token::Model> for ApiToken {
    fn from(m: api_token::Model) -> Self {
        Self(m)
    }
}

/// An API token: a credential for a machine, acting for its owner within its scopes.
#[Object]
impl ApiToken {
    /// Its global id.
    pub async fn id(&self) -> ID {
        node::encode("ApiToken", self.0.id)
    }

    /// What it is for, as its owner named it.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The first characters of the secret, to recognise it.
    async fn prefix(&self) -> &str {
        &self.0.prefix
    }

    /// The id of the user it acts for.
    async fn owner_id(&self) -> ID {
        node::encode("User", self.0.user_id)
    }

    /// The user it acts for, with that user's role and support groups.
    async fn owner(&self, ctx: &Context<'_>) -> Result<User> {
        users(ctx, self.0.user_id).await?.ok_or_else(|| {
            AppError::Internal(format!("token {} has no owner", self.0.id).into()).into()
        })
    }

    /// What it may do, within its owner's role.
    async fn scopes(&self) -> Vec<TokenScope> {
        let s = Scopes::parse(&self.0.scopes).unwrap_or_default();
        let mut out = Vec::new();
        if s.read {
            out.push(TokenScope::Read);
        }
        if s.write {
            out.push(TokenScope::Write);
        }
        if s.ingest {
            out.push(TokenScope::Ingest);
        }
        out
    }

    /// When it stops working; null means never.
    async fn expires_at(&self) -> Option<DateTime> {
        self.0.expires_at.map(DateTime)
    }

    /// When it was last used (to the minute).
    async fn last_used_at(&self) -> Option<DateTime> {
        self.0.last_used_at.map(DateTime)
    }

    /// When it was revoked; null while it works.
    async fn revoked_at(&self) -> Option<DateTime> {
        self.0.revoked_at.map(DateTime)
    }

    /// When it was created.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
}

/// One audited action.
pub struct AuditEntry(pub audit_entry::Model);

impl From<audit_entry::Model> for AuditEntry {
    fn from(m: audit_entry::Model) -> Self {
        Self(m)
    }
}

/// One audited action: a mutation, or a sign-in attempt.
#[Object]
impl AuditEntry {
    /// Its global id.
    pub async fn id(&self) -> ID {
        node::encode("AuditEntry", self.0.id)
    }

    /// Who, as recorded at the time: a username, or what was typed at a failed sign-in.
    async fn actor_name(&self) -> &str {
        &self.0.actor
    }

    /// The id of the user who acted; null for attempts by no known user.
    async fn actor_id(&self) -> Option<ID> {
        self.0.actor_user_id.map(|id| node::encode("User", id))
    }

    /// The user who acted; null for attempts by no known user.
    async fn actor(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        match self.0.actor_user_id {
            Some(id) => users(ctx, id).await,
            None => Ok(None),
        }
    }

    /// What was done: the mutation, or `LOGIN` for a sign-in attempt.
    async fn action(&self) -> AuditAction {
        AuditAction::from_name(&self.0.action)
    }

    /// The id of what it acted on, when known.
    async fn target(&self) -> Option<&str> {
        self.0.target.as_deref()
    }

    /// The client's address.
    async fn client_addr(&self) -> Option<&str> {
        self.0.client_addr.as_deref()
    }

    /// `OK`, or the error code it ended with.
    async fn outcome(&self) -> AuditOutcome {
        AuditOutcome::from_code(&self.0.outcome)
    }

    /// When it happened.
    async fn at(&self) -> DateTime {
        self.0.at.into()
    }

    /// How many identical attempts of one request this entry stands for: the refused or
    /// failed calls of one mutation under many aliases are recorded once, with their count.
    async fn repeats(&self) -> i32 {
        self.0.repeats
    }
}

connection!(UserConnection, UserEdge, User);
connection!(ApiTokenConnection, ApiTokenEdge, ApiToken);
connection!(AuditEntryConnection, AuditEntryEdge, AuditEntry);

/// Which audit entries to list; every condition given must hold.
#[derive(InputObject, Default)]
pub struct AuditFilterInput {
    /// Only what this user did.
    pub actor_id: Option<ID>,
    /// Only this action.
    pub action: Option<AuditAction>,
    /// Only entries that ended this way.
    pub outcome: Option<AuditOutcome>,
    /// Only entries at or after this time.
    pub since: Option<DateTime>,
    /// Only entries before this time.
    pub until: Option<DateTime>,
}

fn principal<'a>(ctx: &Context<'a>) -> Result<&'a Principal> {
    identity(ctx)
        .principal()
        .ok_or_else(|| AppError::Unauthenticated.into())
}

#[derive(Default)]
pub struct AuthQuery;

#[Object]
impl AuthQuery {
    /// The signed-in user.
    async fn me(&self, ctx: &Context<'_>) -> Result<User> {
        let p = principal(ctx)?;
        let found = service::user(&state(ctx)?.db, p.user_id).await?;
        Ok(found.ok_or(AppError::Unauthenticated)?.into())
    }

    /// Users (admins).
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many to return from the start of the list (or after `after`).")]
        first: Option<i32>,
        #[graphql(desc = "Continue after this cursor (`pageInfo.endCursor` of the page before).")]
        after: Option<String>,
        #[graphql(desc = "How many to return from the end of the list (or before `before`).")]
        last: Option<i32>,
        #[graphql(
            desc = "Continue before this cursor (`pageInfo.startCursor` of the page after)."
        )]
        before: Option<String>,
        #[graphql(desc = "The order (`NAME` is the username); oldest first when left out.")]
        order_by: Option<NameOrder>,
    ) -> Result<UserConnection> {
        let page = page(ctx, first, after, last, before)?;
        let db = list_reader(ctx).await?;
        let order = NameOrder::or(order_by, crate::page::KeyOrder::BY_CREATION);
        let found = service::users(&db, order, &page).await?;
        let total = TotalCount::of(&db, service::count_users(&db)).await?;
        Ok(UserConnection::new(found, total))
    }
    /// A user by id (admins; others see only themselves, through `me` or `node`).
    async fn user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Its global id.")] id: ID,
    ) -> Result<Option<User>> {
        let Some(id) = node::decode_of(&id, "User")? else {
            return Ok(None);
        };
        Ok(service::user(&state(ctx)?.db, id).await?.map(User))
    }

    /// Your API tokens; admins see everyone's.
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn api_tokens(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many to return from the start of the list (or after `after`).")]
        first: Option<i32>,
        #[graphql(desc = "Continue after this cursor (`pageInfo.endCursor` of the page before).")]
        after: Option<String>,
        #[graphql(desc = "How many to return from the end of the list (or before `before`).")]
        last: Option<i32>,
        #[graphql(
            desc = "Continue before this cursor (`pageInfo.startCursor` of the page after)."
        )]
        before: Option<String>,
        #[graphql(desc = "The order; oldest first when left out.")] order_by: Option<TimeOrder>,
    ) -> Result<ApiTokenConnection> {
        let p = principal(ctx)?.clone();
        let page = page(ctx, first, after, last, before)?;
        let db = list_reader(ctx).await?;
        let found =
            service::api_tokens_for(&db, &p, TimeOrder::newest_first(order_by, false), &page)
                .await?;
        let total = TotalCount::of(&db, service::count_api_tokens_for(&db, &p)).await?;
        Ok(ApiTokenConnection::new(found, total))
    }

    /// The audit log, newest first (admins).
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    #[expect(
        clippy::too_many_arguments,
        reason = "a Relay connection takes four page arguments besides its own"
    )]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many to return from the start of the list (or after `after`).")]
        first: Option<i32>,
        #[graphql(desc = "Continue after this cursor (`pageInfo.endCursor` of the page before).")]
        after: Option<String>,
        #[graphql(desc = "How many to return from the end of the list (or before `before`).")]
        last: Option<i32>,
        #[graphql(
            desc = "Continue before this cursor (`pageInfo.startCursor` of the page after)."
        )]
        before: Option<String>,
        #[graphql(desc = "Only entries that match this filter.")] filter: Option<AuditFilterInput>,
        #[graphql(desc = "The order; newest first when left out.")] order_by: Option<TimeOrder>,
    ) -> Result<AuditEntryConnection> {
        let page = page(ctx, first, after, last, before)?;
        let f = filter.unwrap_or_default();
        let filter = AuditFilter {
            actor_user_id: f.actor_id.map(|id| node::decode(&id, "User")).transpose()?,
            action: f.action.map(AuditAction::name),
            outcome: f.outcome.map(|o| o.code().to_owned()),
            since: f.since.map(|t| t.0),
            until: f.until.map(|t| t.0),
        };
        let db = list_reader(ctx).await?;
        let found =
            audit::list(&db, &filter, TimeOrder::newest_first(order_by, true), &page).await?;
        let total = TotalCount::of(&db, audit::count(&db, &filter)).await?;
        Ok(AuditEntryConnection::new(found, total))
    }
}

/// Tokens of a signed-in session.
#[derive(SimpleObject)]
pub struct LoginPayload {
    /// Send as `Authorization: Bearer <accessToken>`.
    pub access_token: String,
    /// Exchange with `refreshSession` for new tokens; each works once.
    pub refresh_token: String,
    /// When the access token expires.
    pub expires_at: DateTime,
    /// Who signed in.
    pub user: User,
}

impl From<Tokens> for LoginPayload {
    fn from(t: Tokens) -> Self {
        Self {
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            expires_at: t.expires_at.into(),
            user: t.user.into(),
        }
    }
}

/// A username and password to sign in with.
#[derive(InputObject)]
pub struct LoginInput {
    /// The username.
    pub username: String,
    /// The password.
    #[graphql(secret)]
    pub password: String,
}

/// The refresh token to exchange.
#[derive(InputObject)]
pub struct RefreshSessionInput {
    /// The refresh token from `login` or the last `refreshSession`.
    #[graphql(secret)]
    pub refresh_token: String,
}

/// The session to end.
#[derive(InputObject)]
pub struct LogoutInput {
    /// The refresh token of the session.
    #[graphql(secret)]
    pub refresh_token: String,
}

/// The answer of `logout`.
#[derive(SimpleObject)]
pub struct LogoutPayload {
    /// Always true: the session ended.
    pub ok: bool,
}

/// Whose sessions to end.
#[derive(InputObject, Default)]
pub struct RevokeSessionsInput {
    /// Whose sessions (admins only; yourself when omitted).
    pub user_id: Option<ID>,
}

/// What `revokeSessions` ended.
#[derive(SimpleObject)]
pub struct RevokeSessionsPayload {
    /// How many sessions ended.
    pub revoked: u64,
}

/// Your current password and the new one.
#[derive(InputObject)]
pub struct ChangePasswordInput {
    /// Your password now.
    #[graphql(secret)]
    pub current_password: String,
    /// The new password (at least 12 characters).
    #[graphql(secret)]
    pub new_password: String,
}

/// The answer of `changePassword`.
#[derive(SimpleObject)]
pub struct ChangePasswordPayload {
    /// Always true: the password changed.
    pub ok: bool,
}

/// A new user.
#[derive(InputObject)]
pub struct CreateUserInput {
    /// The name they sign in with, unique (case-insensitive).
    pub username: String,
    /// Their e-mail address.
    pub email: Option<String>,
    /// The name shown for them.
    pub display_name: Option<String>,
    /// What they may do.
    pub role: RoleName,
    /// Their first password (at least 12 characters).
    #[graphql(secret)]
    pub password: String,
    /// The support groups whose hosts they see (non-admins).
    #[graphql(default)]
    pub support_group_ids: Vec<ID>,
}

/// Changes to a user; fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateUserInput {
    /// The user to change.
    pub id: ID,
    /// A new e-mail address; null clears it.
    pub email: MaybeUndefined<String>,
    /// A new display name; null clears it.
    pub display_name: MaybeUndefined<String>,
    /// A new role.
    pub role: Option<RoleName>,
    /// Disabling ends every session of the user and revokes their API tokens at once; enabling
    /// again brings neither back.
    pub disabled: Option<bool>,
    /// The support groups, replacing the old ones.
    pub support_group_ids: Option<Vec<ID>>,
}

/// The user `createUser` made.
#[derive(SimpleObject)]
pub struct CreateUserPayload {
    /// The new user.
    pub user: User,
}

/// The user `updateUser` changed.
#[derive(SimpleObject)]
pub struct UpdateUserPayload {
    /// The user as they are now.
    pub user: User,
}

/// A new API token.
#[derive(InputObject)]
pub struct CreateApiTokenInput {
    /// What it is for.
    pub name: String,
    /// What it may do.
    pub scopes: Vec<TokenScope>,
    /// Days until it expires; never when omitted.
    pub expires_in_days: Option<u32>,
}

/// The token `createApiToken` made, and its secret.
#[derive(SimpleObject)]
pub struct CreateApiTokenPayload {
    /// The secret: shown here once, never again. Send as `Authorization: Bearer <secret>`.
    pub secret: String,
    /// The token.
    pub api_token: ApiToken,
}

/// The token to revoke.
#[derive(InputObject)]
pub struct RevokeApiTokenInput {
    /// The token's id.
    pub id: ID,
}

/// The token `revokeApiToken` revoked.
#[derive(SimpleObject)]
pub struct RevokeApiTokenPayload {
    /// The token, now revoked.
    pub api_token: ApiToken,
}

fn client_addr(ctx: &Context<'_>) -> String {
    ctx.data_opt::<ClientAddr>()
        .map(|a| a.0.clone())
        .unwrap_or_else(|| "unknown".into())
}

/// Users and their roles.
pub static USERS: Area = Area {
    name: "users",
    readers: &[Role::Admin],
    writers: &[Role::Admin],
};

/// The audit log.
pub static AUDIT: Area = Area {
    name: "audit",
    readers: &[Role::Admin],
    writers: &[Role::Admin],
};

/// The rule of `parent.field` for the fields of identity and access.
pub fn access(parent: &str, field: &str) -> Option<Access> {
    use Access::*;
    Some(match (parent, field) {
        ("Query", "me" | "apiTokens") => Anyone,
        ("Query", "users" | "user") => Read(&USERS),
        ("Query", "auditLog") => Read(&AUDIT),
        ("Mutation", "login" | "refreshSession") => Public,
        (
            "Mutation",
            "logout" | "changePassword" | "revokeSessions" | "createApiToken" | "revokeApiToken",
        ) => Account,
        ("Mutation", "createUser" | "updateUser") => Write(&USERS),
        // A user is reached only through guarded roots (`me`, `users`, `user`) and through
        // the payload of a successful `login`, whose caller has just proved who they are.
        ("User", "supportGroups") => Anyone,
        (
            "User",
            "id" | "username" | "email" | "displayName" | "role" | "disabled" | "lastLoginAt"
            | "createdAt",
        ) => Public,
        (
            "ApiToken",
            "id" | "name" | "prefix" | "scopes" | "ownerId" | "owner" | "expiresAt" | "lastUsedAt"
            | "revokedAt" | "createdAt",
        ) => Anyone,
        (
            "AuditEntry",
            "id" | "actor" | "actorName" | "actorId" | "action" | "target" | "clientAddr"
            | "outcome" | "at" | "repeats",
        ) => Read(&AUDIT),
        ("LoginPayload", "accessToken" | "refreshToken" | "expiresAt" | "user")
        | ("ChangePasswordPayload" | "LogoutPayload", "ok")
        | ("CreateApiTokenPayload", "apiToken" | "secret")
        | ("RevokeApiTokenPayload", "apiToken")
        | ("RevokeSessionsPayload", "revoked")
        | ("CreateUserPayload" | "UpdateUserPayload", "user") => Public,
        ("ScanExclusion", "setBy" | "setById") => Read(&crate::host::graphql::access::INVENTORY),
        _ => return None,
    })
}

/// The objects of identity and access behind `node(id:)`.
pub enum AuthNode {
    User(User),
    ApiToken(ApiToken),
    AuditEntry(AuditEntry),
}

/// The object of type `kind` and id `id`, guarded as its own root query is: a user by admins
/// or themselves, a token by admins or its owner, an audit entry by admins. `None` when `kind`
/// is not identity and access's, `Some(None)` when there is no such object or the caller may
/// not see it.
pub async fn fetch_node(
    ctx: &Context<'_>,
    kind: &str,
    id: i64,
) -> crate::error::AppResult<Option<Option<AuthNode>>> {
    if !matches!(kind, "User" | "ApiToken" | "AuditEntry") {
        return Ok(None);
    }
    let Some(p) = identity(ctx).principal() else {
        return Ok(Some(None));
    };
    let db = &state(ctx)?.db;
    Ok(Some(match kind {
        "User" => service::user_for(db, p, id)
            .await?
            .map(|u| AuthNode::User(u.into())),
        "ApiToken" => service::api_token_for(db, p, id)
            .await?
            .map(|t| AuthNode::ApiToken(t.into())),
        _ if p.role == Role::Admin => audit::get(db, id)
            .await?
            .map(|e| AuthNode::AuditEntry(e.into())),
        _ => None,
    }))
}

#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Signs in with a username and password.
    async fn login(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")] input: LoginInput,
    ) -> Result<LoginPayload> {
        let tokens = service::login(
            state(ctx)?,
            &input.username,
            &input.password,
            &client_addr(ctx),
        )
        .await?;
        Ok(tokens.into())
    }

    /// Exchanges a refresh token for new tokens. Each refresh token works once; using one
    /// twice ends the session.
    async fn refresh_session(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: RefreshSessionInput,
    ) -> Result<LoginPayload> {
        Ok(service::refresh(state(ctx)?, &input.refresh_token)
            .await?
            .into())
    }

    /// Ends the session of a refresh token.
    async fn logout(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")] input: LogoutInput,
    ) -> Result<LogoutPayload> {
        service::logout(state(ctx)?, &input.refresh_token).await?;
        Ok(LogoutPayload { ok: true })
    }

    /// Ends every session of yourself or (admins) of another user.
    async fn revoke_sessions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: RevokeSessionsInput,
    ) -> Result<RevokeSessionsPayload> {
        let p = principal(ctx)?;
        let target = match input.user_id {
            Some(id) => node::decode(&id, "User")?,
            None => p.user_id,
        };
        let revoked = service::write_access(state(ctx)?, |txn| {
            let p = p.clone();
            Box::pin(async move { service::revoke_sessions_for(txn, &p, target).await })
        })
        .await?;
        Ok(RevokeSessionsPayload { revoked })
    }

    /// Changes your password; your other sessions end and your API tokens are revoked. Wrong
    /// current passwords back off as failed sign-ins do.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: ChangePasswordInput,
    ) -> Result<ChangePasswordPayload> {
        let p = principal(ctx)?;
        service::change_password(
            state(ctx)?,
            p,
            &input.current_password,
            &input.new_password,
            &client_addr(ctx),
        )
        .await?;
        Ok(ChangePasswordPayload { ok: true })
    }

    /// Creates a user (admins).
    async fn create_user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: CreateUserInput,
    ) -> Result<CreateUserPayload> {
        let new = NewUser {
            username: input.username,
            email: input.email,
            display_name: input.display_name,
            role: input.role.into(),
            password: NewPassword::hash(&input.password).await?,
            support_group_ids: node::decode_many(&input.support_group_ids, "SupportGroup")?,
        };
        let user = service::write_access(state(ctx)?, |txn| {
            let new = new.clone();
            Box::pin(async move { service::create_user(txn, new).await })
        })
        .await?;
        Ok(CreateUserPayload { user: user.into() })
    }

    /// Changes a user's details, role, support groups or whether they may sign in (admins).
    async fn update_user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: UpdateUserInput,
    ) -> Result<UpdateUserPayload> {
        let id = node::decode(&input.id, "User")?;
        let changes = UserChanges {
            email: Option::from(input.email),
            display_name: Option::from(input.display_name),
            role: input.role.map(Role::from),
            disabled: input.disabled,
            support_group_ids: input
                .support_group_ids
                .map(|ids| node::decode_many(&ids, "SupportGroup"))
                .transpose()?,
        };
        let user = service::write_access(state(ctx)?, |txn| {
            let changes = changes.clone();
            Box::pin(async move { service::update_user(txn, id, changes).await })
        })
        .await?;
        Ok(UpdateUserPayload { user: user.into() })
    }

    /// Creates an API token owned by you. The secret is in the answer and nowhere else.
    async fn create_api_token(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: CreateApiTokenInput,
    ) -> Result<CreateApiTokenPayload> {
        let p = principal(ctx)?;
        let mut scopes = Scopes::default();
        for s in &input.scopes {
            match s {
                TokenScope::Read => scopes.read = true,
                TokenScope::Write => scopes.write = true,
                TokenScope::Ingest => scopes.ingest = true,
            }
        }
        let (owner, days) = (p.user_id, input.expires_in_days);
        let (token, secret) = db::write(&state(ctx)?.db, |txn| {
            let name = input.name.clone();
            Box::pin(
                async move { service::create_api_token(txn, owner, &name, scopes, days).await },
            )
        })
        .await?;
        Ok(CreateApiTokenPayload {
            secret,
            api_token: token.into(),
        })
    }

    /// Revokes one of your tokens (admins: any token).
    async fn revoke_api_token(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: RevokeApiTokenInput,
    ) -> Result<RevokeApiTokenPayload> {
        let p = principal(ctx)?;
        let id = node::decode(&input.id, "ApiToken")?;
        let token = service::write_access(state(ctx)?, |txn| {
            let p = p.clone();
            Box::pin(async move { service::revoke_api_token(txn, id, &p).await })
        })
        .await?;
        Ok(RevokeApiTokenPayload {
            api_token: token.into(),
        })
    }
}
