//! The live dashboard: `GET /` serves the page and `GET /assets/{file}` its script, styles and the
//! vendored chart library (uPlot, MIT) with its license, all embedded in the binary. The page and
//! assets hold no data and are open; the page reads the API with the visitor's bearer token.
//!
//! Caching: every file carries a strong ETag (a hash of its bytes) and answers `If-None-Match`
//! with 304. The page links each asset as `/assets/NAME?v=HASH`; a request with the current
//! hash may be cached for a year, anything else is revalidated.

use std::sync::Arc;
use std::sync::LazyLock;

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use crate::app::Shared;
use crate::error::ApiError;

/// One embedded file.
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

/// Every file under `/assets/`.
pub const ASSETS: &[Asset] = &[
    Asset {
        name: "dashboard.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../assets/dashboard.js"),
    },
    Asset {
        name: "dashboard.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../assets/dashboard.css"),
    },
    Asset {
        name: "uPlot.iife.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../assets/vendor/uplot/uPlot.iife.min.js"),
    },
    Asset {
        name: "uPlot.min.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../assets/vendor/uplot/uPlot.min.css"),
    },
    Asset {
        name: "uPlot-LICENSE.txt",
        content_type: "text/plain; charset=utf-8",
        bytes: include_bytes!("../assets/vendor/uplot/LICENSE"),
    },
];

const PAGE_TEMPLATE: &str = include_str!("../assets/index.html");

/// Scripts and styles only from this server; the page calls only this server's API.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

/// A year: assets requested with their current hash never change.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

fn hash_of(bytes: &[u8]) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes))
}

/// Asset hashes, in `ASSETS` order.
static HASHES: LazyLock<Vec<String>> =
    LazyLock::new(|| ASSETS.iter().map(|a| hash_of(a.bytes)).collect());

/// The page with every `{{asset:NAME}}` replaced by the asset's versioned path.
static PAGE: LazyLock<(String, String)> = LazyLock::new(|| {
    let mut page = PAGE_TEMPLATE.to_string();
    for (asset, hash) in ASSETS.iter().zip(HASHES.iter()) {
        page = page.replace(
            &format!("{{{{asset:{}}}}}", asset.name),
            &format!("/assets/{}?v={hash}", asset.name),
        );
    }
    let etag = hash_of(page.as_bytes());
    (page, etag)
});

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/", get(page))
        .route("/assets/{file}", get(asset))
}

async fn page(headers: HeaderMap) -> Response {
    let (body, etag) = &*PAGE;
    respond(
        &headers,
        etag,
        "text/html; charset=utf-8",
        REVALIDATE,
        body.as_bytes(),
        true,
    )
}

#[derive(Debug, Deserialize)]
struct Version {
    v: Option<String>,
}

async fn asset(
    crate::error::ApiPath(file): crate::error::ApiPath<String>,
    version: Result<Query<Version>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.name == file) else {
        let known: Vec<&str> = ASSETS.iter().map(|a| a.name).collect();
        return ApiError::not_found(format!(
            "no dashboard asset {file:?}; assets: {}",
            known.join(", ")
        ))
        .with_field("file")
        .into_response();
    };
    let (a, hash) = (&ASSETS[i], &HASHES[i]);
    let current = version
        .ok()
        .and_then(|Query(v)| v.v)
        .is_some_and(|v| v == *hash);
    let cache = if current { IMMUTABLE } else { REVALIDATE };
    respond(&headers, hash, a.content_type, cache, a.bytes, false)
}

fn respond(
    headers: &HeaderMap,
    hash: &str,
    content_type: &'static str,
    cache: &'static str,
    body: &'static [u8],
    is_page: bool,
) -> Response {
    let etag = format!("\"{hash}\"");
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().trim_start_matches("W/") == etag)
        });
    let mut out = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, content_type)], body).into_response()
    };
    let h = out.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if is_page {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_links_every_asset_by_its_current_hash() {
        let (page, _) = &*PAGE;
        assert!(!page.contains("{{"), "no placeholder is left: {page}");
        for (a, hash) in ASSETS.iter().zip(HASHES.iter()) {
            if a.name.ends_with("LICENSE.txt") {
                assert!(page.contains(&format!("/assets/{}", a.name)), "{}", a.name);
            } else {
                assert!(
                    page.contains(&format!("/assets/{}?v={hash}", a.name)),
                    "{}",
                    a.name
                );
            }
        }
    }
}
