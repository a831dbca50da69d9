//! The one list of domains: their roots, access tables, node kinds, loaders and jobs, combined
//! into the schema and the scheduler's job list. Adding a domain adds a line to each list here
//! (and its own module, entities and migrations); nothing else shared changes.

use async_graphql::extensions::apollo_persisted_queries::{
    ApolloPersistedQueries, LruCacheStorage,
};
use async_graphql::{Context, ID, MergedObject, MergedSubscription, Schema};

use crate::auth::graphql::{ApiToken, AuditEntry, AuthMutation, AuthNode, AuthQuery, User};
use crate::darknet::graphql::{
    DarknetEvent, DarknetMutation, DarknetNode, DarknetQuery, DarknetSpike, DarknetSubscription,
    Sensor,
};
use crate::error::AppError;
use crate::feed::graphql::{
    Article, Feed, FeedMutation, FeedNode, FeedQuery, FeedSubscription, IntelMatch,
};
use crate::graphql::guard::{self, Access, FieldGuard, Rule};
use crate::graphql::{errors, limits, node};
use crate::host::graphql::node::HostNode;
use crate::host::graphql::{
    ExposureChange, ExposureQuery, ExposureSubscription, Host, HostGroup, HostMutation, HostQuery,
    HostSubscription, Location, Service, SupportGroup, Tag, Url,
};
use crate::incident::graphql::{Incident, IncidentMutation, IncidentQuery, IncidentSubscription};
use crate::jobs::Job;
use crate::jobs::graphql::{JobQuery, JobRun};
use crate::scan::graphql::{
    Scan, ScanMutation, ScanNode, ScanProfile, ScanQuery, ScanRun, ScanSubscription,
};
use crate::state::AppState;
use crate::vuln::graphql::{
    Finding, FindingImport, FindingMutation, FindingNode, FindingQuery, FindingSubscription,
    Vulnerability,
};
use crate::{auth, darknet, feed, host, incident, jobs, scan, vuln};

/// What can be read.
#[derive(MergedObject, Default)]
pub struct Query(
    NodeQuery,
    HostQuery,
    ExposureQuery,
    ScanQuery,
    DarknetQuery,
    FindingQuery,
    IncidentQuery,
    FeedQuery,
    JobQuery,
    AuthQuery,
);

/// What can be changed.
#[derive(MergedObject, Default)]
pub struct Mutation(
    HostMutation,
    ScanMutation,
    DarknetMutation,
    FindingMutation,
    IncidentMutation,
    FeedMutation,
    AuthMutation,
);

/// What can be watched live.
#[derive(MergedSubscription, Default)]
pub struct Subscription(
    HostSubscription,
    ExposureSubscription,
    ScanSubscription,
    DarknetSubscription,
    FindingSubscription,
    IncidentSubscription,
    FeedSubscription,
);

pub type HectorSchema = Schema<Query, Mutation, Subscription>;

/// Every domain's access table, and the fields the assembly itself adds.
pub static RULES: &[Rule] = &[
    own_rule,
    guard::structure,
    host::graphql::access::rule,
    scan::graphql::access,
    darknet::graphql::access,
    vuln::graphql::access,
    incident::graphql::access,
    feed::graphql::access,
    jobs::graphql::access,
    auth::graphql::access,
];

fn own_rule(parent: &str, field: &str) -> Option<Access> {
    match (parent, field) {
        ("Query", "node" | "nodes") => Some(Access::Read(&host::graphql::access::INVENTORY)),
        // The id of an object the query already reached through a guarded field.
        ("Node", "id") => Some(Access::Public),
        _ => None,
    }
}

/// The jobs of every domain, with their periods from the configuration.
pub fn jobs(state: &AppState) -> Vec<Job> {
    let mut all = host::jobs::all(state);
    all.extend(scan::jobs::all(state));
    all.extend(darknet::jobs::all(state));
    all.extend(feed::jobs::all(state));
    all
}

/// Anything with a global id.
#[derive(async_graphql::Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "Its global id."))]
pub enum Node {
    Host(Box<Host>),
    HostGroup(HostGroup),
    Tag(Tag),
    SupportGroup(SupportGroup),
    Location(Location),
    Url(Url),
    Service(Service),
    ExposureChange(Box<ExposureChange>),
    ScanProfile(ScanProfile),
    Scan(Scan),
    ScanRun(ScanRun),
    Sensor(Sensor),
    DarknetEvent(DarknetEvent),
    DarknetSpike(DarknetSpike),
    Finding(Finding),
    Vulnerability(Vulnerability),
    FindingImport(FindingImport),
    Incident(Incident),
    Feed(Feed),
    Article(Article),
    IntelMatch(IntelMatch),
    JobRun(JobRun),
    User(User),
    ApiToken(ApiToken),
    AuditEntry(AuditEntry),
}

impl From<HostNode> for Node {
    fn from(n: HostNode) -> Self {
        match n {
            HostNode::Host(h) => Node::Host(h),
            HostNode::HostGroup(g) => Node::HostGroup(g),
            HostNode::Tag(t) => Node::Tag(t),
            HostNode::SupportGroup(g) => Node::SupportGroup(g),
            HostNode::Location(l) => Node::Location(l),
            HostNode::Url(u) => Node::Url(u),
            HostNode::Service(s) => Node::Service(s),
            HostNode::ExposureChange(c) => Node::ExposureChange(c),
        }
    }
}

/// Any object by its global id, asked of the domain that owns its type.
async fn fetch(ctx: &Context<'_>, id: &ID) -> Result<Option<Node>, AppError> {
    let (kind, num) = node::decode_any(id)?;
    if let Some(found) = host::graphql::node::fetch(ctx, &kind, num).await? {
        return Ok(found.map(Node::from));
    }
    if let Some(found) = scan::graphql::fetch_node(ctx, &kind, num).await? {
        return Ok(found.map(|n| match n {
            ScanNode::ScanProfile(p) => Node::ScanProfile(p),
            ScanNode::Scan(s) => Node::Scan(s),
            ScanNode::ScanRun(r) => Node::ScanRun(r),
        }));
    }
    if let Some(found) = darknet::graphql::fetch_node(ctx, &kind, num).await? {
        return Ok(found.map(|n| match n {
            DarknetNode::Sensor(s) => Node::Sensor(s),
            DarknetNode::DarknetEvent(e) => Node::DarknetEvent(e),
            DarknetNode::DarknetSpike(s) => Node::DarknetSpike(s),
        }));
    }
    if let Some(found) = vuln::graphql::fetch_node(ctx, &kind, num).await? {
        return Ok(found.map(|n| match n {
            FindingNode::Finding(f) => Node::Finding(f),
            FindingNode::Vulnerability(v) => Node::Vulnerability(v),
            FindingNode::FindingImport(i) => Node::FindingImport(i),
        }));
    }
    if let Some(found) = incident::graphql::fetch_node(ctx, &kind, num).await? {
        return Ok(found.map(Node::Incident));
    }
    if let Some(found) = feed::graphql::fetch_node(ctx, &kind, num).await? {
        return Ok(found.map(|n| match n {
            FeedNode::Feed(f) => Node::Feed(f),
            FeedNode::Article(a) => Node::Article(a),
            FeedNode::IntelMatch(m) => Node::IntelMatch(m),
        }));
    }
    if let Some(found) = jobs::graphql::fetch_node(ctx, &kind, num).await? {
        return Ok(found.map(Node::JobRun));
    }
    if let Some(found) = auth::graphql::fetch_node(ctx, &kind, num).await? {
        return Ok(found.map(|n| match n {
            AuthNode::User(u) => Node::User(u),
            AuthNode::ApiToken(t) => Node::ApiToken(t),
            AuthNode::AuditEntry(e) => Node::AuditEntry(e),
        }));
    }
    Err(node::unknown(id))
}

#[derive(Default)]
pub struct NodeQuery;

#[async_graphql::Object]
impl NodeQuery {
    /// Any object by its global id.
    async fn node(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Its global id.")] id: ID,
    ) -> async_graphql::Result<Option<Node>> {
        Ok(fetch(ctx, &id).await?)
    }

    /// Several objects by global id, in the order asked; null where one does not exist.
    async fn nodes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Global ids, at most 100.")] ids: Vec<ID>,
    ) -> async_graphql::Result<Vec<Option<Node>>> {
        if ids.len() > 100 {
            return Err(AppError::bad_input("`nodes` takes at most 100 ids").into());
        }
        let mut out = Vec::with_capacity(ids.len());
        for id in &ids {
            out.push(fetch(ctx, id).await?);
        }
        Ok(out)
    }
}

/// The schema, twice: one validating every document in full, one that only checks what
/// execution needs (depth, complexity, fragment cycles). A query's text is run by the second
/// once the first has answered it without any error, so the documents a client repeats skip the
/// full validation; anything else (mutations, subscriptions, new or failed documents) always
/// gets it.
#[derive(Clone)]
pub struct Schemas {
    pub strict: HectorSchema,
    fast: HectorSchema,
    validated: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

impl Schemas {
    /// Most documents remembered as validated, and the longest text remembered.
    const ENTRIES: usize = 512;
    const MAX_TEXT: usize = 16 * 1024;

    /// Runs one request, validating its document in full unless it was before.
    pub async fn execute(&self, request: async_graphql::Request) -> async_graphql::Response {
        let key = Self::eligible(&request).then(|| request.query.clone());
        let known = key.as_ref().is_some_and(|k| {
            self.validated
                .lock()
                .is_ok_and(|validated| validated.contains(k))
        });
        if known {
            return self.fast.execute(request).await;
        }
        let response = self.strict.execute(request).await;
        if let Some(key) = key
            && response.errors.is_empty()
            && let Ok(mut validated) = self.validated.lock()
        {
            if validated.len() >= Self::ENTRIES {
                validated.clear();
            }
            validated.insert(key);
        }
        response
    }

    /// Only single-operation queries, by their text: anything that might hold a mutation or a
    /// subscription is always validated in full.
    fn eligible(request: &async_graphql::Request) -> bool {
        let text = request.query.trim_start();
        request.operation_name.is_none()
            && request.query.len() <= Self::MAX_TEXT
            && (text.starts_with('{') || text.starts_with("query"))
            && !text.contains("mutation")
            && !text.contains("subscription")
            && text.matches("query").count() <= 1
    }
}

/// Builds the schemas once, with the limits of the configuration.
pub fn build(state: &AppState) -> Schemas {
    // One store of persisted queries for both schemas: a query registered through one is found
    // through the other.
    let persisted = LruCacheStorage::new(PERSISTED_QUERIES);
    Schemas {
        strict: build_with(
            state,
            async_graphql::ValidationMode::Strict,
            persisted.clone(),
        ),
        fast: build_with(state, async_graphql::ValidationMode::Fast, persisted),
        validated: Default::default(),
    }
}

/// Most documents kept for Apollo's automatic persisted queries (least recently used go first).
const PERSISTED_QUERIES: usize = 1024;

fn build_with(
    state: &AppState,
    mode: async_graphql::ValidationMode,
    persisted: LruCacheStorage,
) -> HectorSchema {
    let config = &state.config;
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .validation_mode(mode)
    .data(state.clone())
    .data(host::graphql::loaders::new(state))
    .data(vuln::graphql::loaders::new(state))
    .data(incident::graphql::loaders::new(state))
    .data(feed::graphql::loaders::new(state))
    .data(auth::graphql::user_loader(state))
    .extension(limits::DocumentLimits::new(config.max_depth))
    // After the document checks, so a query is checked before it is registered; a hash alone
    // finds only a document that passed them.
    .extension(ApolloPersistedQueries::new(persisted))
    .extension(errors::ErrorCodes)
    // Audit outside the guard, so refused mutations are recorded too.
    .extension(auth::mutation_audit::AuditMutations)
    .extension(FieldGuard(RULES))
    .limit_complexity(config.max_complexity)
    .limit_recursive_depth(64)
    .limit_directives(16)
    .finish()
}

/// The schema as SDL, sorted, exactly as `schema.graphql` holds it.
pub fn sdl() -> String {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .finish()
    .sdl_with_options(
        async_graphql::SDLExportOptions::new()
            .sorted_fields()
            .sorted_enum_items(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field of every object and interface type in the schema, as `(type, field)`.
    fn schema_fields() -> Vec<(String, String)> {
        let sdl = sdl();
        let mut out = Vec::new();
        let mut current: Option<String> = None;
        let mut in_description = false;
        // Arguments with descriptions span lines; only depth 0 names a field.
        let mut parens = 0i32;
        for line in sdl.lines() {
            let trimmed = line.trim();
            if trimmed.starts_with("\"\"\"") {
                if !(trimmed.len() > 3 && trimmed.ends_with("\"\"\"")) {
                    in_description = !in_description;
                }
                continue;
            }
            if in_description {
                continue;
            }
            if let Some(rest) = trimmed
                .strip_prefix("type ")
                .or_else(|| trimmed.strip_prefix("interface "))
            {
                current = rest.split_whitespace().next().map(str::to_owned);
                continue;
            }
            if trimmed.starts_with("input ") || trimmed.starts_with("enum ") {
                current = None;
                continue;
            }
            if trimmed == "}" {
                current = None;
                continue;
            }
            if let Some(ty) = &current {
                let name: String = trimmed
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if parens == 0 && !name.is_empty() {
                    out.push((ty.clone(), name));
                }
                parens += trimmed.matches('(').count() as i32 - trimmed.matches(')').count() as i32;
            }
        }
        out
    }

    #[test]
    fn every_field_of_the_schema_has_exactly_one_access_rule() {
        let fields = schema_fields();
        assert!(
            fields.len() > 100,
            "the SDL walk found too few fields: {}",
            fields.len()
        );
        let missing: Vec<_> = fields
            .iter()
            .filter(|(ty, field)| guard::rule_in(RULES, ty, field).is_none())
            .collect();
        assert!(
            missing.is_empty(),
            "fields without an access rule: {missing:?}"
        );
        let doubled: Vec<_> = fields
            .iter()
            .filter(|(ty, field)| RULES.iter().filter(|r| r(ty, field).is_some()).count() > 1)
            .collect();
        assert!(doubled.is_empty(), "fields two domains decide: {doubled:?}");
    }

    #[test]
    fn a_new_field_of_an_existing_type_has_no_rule_until_decided() {
        for (ty, field) in [
            ("User", "passwordHash"),
            ("LoginPayload", "somethingNew"),
            ("Host", "somethingNew"),
            ("HostConnection", "somethingNew"),
            ("Query", "somethingNew"),
        ] {
            assert_eq!(guard::rule_in(RULES, ty, field), None, "{ty}.{field}");
        }
    }

    #[test]
    fn support_groups_are_admins_to_manage_and_instances_admins_to_see() {
        use crate::actor::Role;
        let rule = |t, f| guard::rule_in(RULES, t, f).unwrap();
        let Access::Write(area) = rule("Mutation", "updateSupportGroup") else {
            panic!("a write");
        };
        assert_eq!(area.writers, &[Role::Admin]);
        let Access::Read(area) = rule("JobRun", "instance") else {
            panic!("a read");
        };
        assert_eq!(area.readers, &[Role::Admin]);
    }

    /// What in the schema has no description: types, fields, arguments, input fields, enum
    /// values and scalars, each named as `Type`, `Type.field`, `Type.field(arg)` or
    /// `Enum.VALUE`.
    async fn undescribed() -> Vec<String> {
        let schema = Schema::build(
            Query::default(),
            Mutation::default(),
            Subscription::default(),
        )
        .finish();
        let query = "{ __schema { types { name description
            fields(includeDeprecated: true) { name description args { name description } }
            inputFields { name description }
            enumValues(includeDeprecated: true) { name description } } } }";
        let response = schema.execute(query).await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        let data = response.data.into_json().unwrap_or_default();
        let described = |v: &serde_json::Value| {
            v["description"]
                .as_str()
                .is_some_and(|d| !d.trim().is_empty())
        };
        let list = |v: &serde_json::Value| v.as_array().cloned().unwrap_or_default();
        let mut missing = Vec::new();
        for ty in list(&data["__schema"]["types"]) {
            let name = ty["name"].as_str().unwrap_or_default().to_owned();
            // Introspection's own types, and `ID`: a built-in scalar of the GraphQL spec that
            // the library registers without a description and that no schema can replace.
            if name.starts_with("__") || name == "ID" {
                continue;
            }
            if !described(&ty) {
                missing.push(name.clone());
            }
            for field in list(&ty["fields"]).iter().chain(&list(&ty["inputFields"])) {
                let field_name = format!("{name}.{}", field["name"].as_str().unwrap_or_default());
                if !described(field) {
                    missing.push(field_name.clone());
                }
                for arg in list(&field["args"]) {
                    if !described(&arg) {
                        missing.push(format!(
                            "{field_name}({})",
                            arg["name"].as_str().unwrap_or_default()
                        ));
                    }
                }
            }
            for value in list(&ty["enumValues"]) {
                if !described(&value) {
                    missing.push(format!(
                        "{name}.{}",
                        value["name"].as_str().unwrap_or_default()
                    ));
                }
            }
        }
        missing
    }

    #[tokio::test]
    async fn everything_in_the_schema_is_described() {
        let missing = undescribed().await;
        assert!(
            missing.is_empty(),
            "{} parts of the schema have no description (a doc comment or `desc`):\n{}",
            missing.len(),
            missing.join("\n")
        );
    }
}
