//! GraphiQL, served from the binary: its page, React, graphql-ws and GraphiQL itself are
//! embedded at build time from pinned npm packages (`api/assets/graphiql/fetch.sh` refreshes
//! them and checks their integrity; their licences are served beside them), so the IDE works
//! on an air-gapped network and the browser asks nothing of anyone but Hector.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};

use crate::state::AppState;

/// One embedded file: its name under `/graphiql/assets/`, content type and bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! assets {
    ($(($name:literal, $type:literal)),* $(,)?) => {
        &[$(Asset {
            name: $name,
            content_type: $type,
            bytes: include_bytes!(concat!("../assets/graphiql/", $name)),
        }),*]
    };
}

static ASSETS: &[Asset] = assets![
    ("graphiql.min.js", "text/javascript; charset=utf-8"),
    ("graphiql.min.css", "text/css; charset=utf-8"),
    ("react.production.min.js", "text/javascript; charset=utf-8"),
    (
        "react-dom.production.min.js",
        "text/javascript; charset=utf-8"
    ),
    ("graphql-ws.min.js", "text/javascript; charset=utf-8"),
    ("hector.js", "text/javascript; charset=utf-8"),
    ("hector.css", "text/css; charset=utf-8"),
    ("LICENSE.graphiql", "text/plain; charset=utf-8"),
    ("LICENSE.react", "text/plain; charset=utf-8"),
    ("LICENSE.react-dom", "text/plain; charset=utf-8"),
    ("LICENSE.graphql-ws", "text/plain; charset=utf-8"),
];

static PAGE: &str = include_str!("../assets/graphiql/index.html");

/// What the page may load: only Hector's own scripts, styles and endpoints (the WebSocket
/// included), nothing inline but styles React sets.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The GraphiQL page.
pub fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(POLICY),
        ))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .body(PAGE)
}

/// `GET /graphiql/assets/{name}`: an embedded file, or 404 (also when GraphiQL is off).
pub async fn asset(name: web::Path<String>, state: web::Data<AppState>) -> HttpResponse {
    if !state.config.serves_graphiql() {
        return HttpResponse::NotFound().finish();
    }
    match ASSETS.iter().find(|a| a.name == name.as_str()) {
        Some(asset) => HttpResponse::Ok()
            .content_type(asset.content_type)
            .insert_header((
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ))
            .insert_header((
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ))
            .body(asset.bytes),
        None => HttpResponse::NotFound().finish(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_embedded_assets() {
        for src in PAGE
            .split(['"', '\''])
            .filter(|s| s.starts_with('/') || s.contains("://"))
        {
            let name = src
                .strip_prefix("/graphiql/assets/")
                .unwrap_or_else(|| panic!("{src} is not an embedded asset"));
            assert!(
                ASSETS.iter().any(|a| a.name == name),
                "{name} is not embedded"
            );
        }
        assert!(ASSETS.iter().all(|a| !a.bytes.is_empty()));
    }
}
