//! The web pages people use, served by paytree itself: the customer's mypage at `/app/` and
//! the seller's shipping desk at `/app/seller`. Plain HTML, CSS and JavaScript modules,
//! embedded in the binary (no build step, no other server); they hold no data and call the
//! JSON API with the key the person signs in with, kept in the tab's session storage.
//!
//! Every answer carries a strict Content-Security-Policy (scripts, styles and requests to
//! this origin only; no inline script or style; no framing), `nosniff`, no referrer, and
//! `Cache-Control: no-cache` with an `ETag`, so a browser revalidates (304) and never runs a
//! stale script after an upgrade.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

use super::problem::Problem;

/// The policy every page and asset is served with.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
    frame-ancestors 'none'";

/// One embedded file: its name under `/app/`, its type and its bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

macro_rules! assets {
    ($($name:literal => $type:literal),* $(,)?) => {
        &[$(Asset {
            name: $name,
            content_type: $type,
            body: include_str!(concat!("assets/", $name)),
        }),*]
    };
}

const ASSETS: &[Asset] = assets! {
    "app.css" => "text/css; charset=utf-8",
    "common.js" => "text/javascript; charset=utf-8",
    "i18n.js" => "text/javascript; charset=utf-8",
    "mypage.js" => "text/javascript; charset=utf-8",
    "seller.js" => "text/javascript; charset=utf-8",
    "icon.svg" => "image/svg+xml",
};

/// The frame every page shares (head, header, sign-in form), with `{{title}}`,
/// `{{title-key}}`, `{{script}}` and `{{body}}` to fill in.
const LAYOUT: &str = include_str!("assets/layout.html");

/// A page: its name, its title (and the title's text key), its script and its body.
struct Page {
    name: &'static str,
    title: &'static str,
    title_key: &'static str,
    script: &'static str,
    body: &'static str,
}

const PAGES: &[Page] = &[
    Page {
        name: "index.html",
        title: "paytree — my page",
        title_key: "app.title",
        script: "mypage.js",
        body: include_str!("assets/mypage.html"),
    },
    Page {
        name: "seller.html",
        title: "paytree — shipping desk",
        title_key: "seller.title",
        script: "seller.js",
        body: include_str!("assets/seller.html"),
    },
];

/// What is served: the pages, made once from the layout, then the assets as they are; each
/// with its `ETag` (a hash of its bytes).
struct Served {
    name: &'static str,
    content_type: &'static str,
    body: String,
    etag: String,
}

fn served() -> &'static [Served] {
    static SERVED: OnceLock<Vec<Served>> = OnceLock::new();
    SERVED.get_or_init(|| {
        let pages = PAGES.iter().map(|p| {
            let html = LAYOUT
                .replace("{{title-key}}", p.title_key)
                .replace("{{title}}", p.title)
                .replace("{{script}}", p.script)
                .replace("{{body}}", p.body);
            (p.name, "text/html; charset=utf-8", html)
        });
        let assets = ASSETS
            .iter()
            .map(|a| (a.name, a.content_type, a.body.to_owned()));
        pages
            .chain(assets)
            .map(|(name, content_type, body)| Served {
                name,
                content_type,
                etag: format!(
                    "\"{}\"",
                    hex::encode(&Sha256::digest(body.as_bytes())[..12])
                ),
                body,
            })
            .collect()
    })
}

/// `GET /app`: the pages live under `/app/`.
pub async fn app_root() -> Redirect {
    Redirect::permanent("/app/")
}

/// `GET /app/`: the customer's mypage.
pub async fn mypage(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

/// `GET /app/seller`: the seller's shipping desk.
pub async fn seller(headers: HeaderMap) -> Response {
    serve("seller.html", &headers)
}

/// `GET /app/{file}`: a script, the style sheet or the icon.
pub async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    serve(&file, &headers)
}

fn serve(name: &str, headers: &HeaderMap) -> Response {
    let Some(asset) = served().iter().find(|a| a.name == name) else {
        return Problem::not_found().into_response();
    };
    let etag = &asset.etag;
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, asset.content_type)],
            asset.body.clone(),
        )
            .into_response()
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(etag) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, etag);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_reference_only_embedded_assets_and_hold_no_inline_script_or_style() {
        for page in ["index.html", "seller.html"] {
            let html = &served().iter().find(|a| a.name == page).unwrap().body;
            assert!(!html.contains("{{"), "{page}: a placeholder left");
            assert!(!html.contains("<script>"), "{page}: inline script");
            assert!(!html.contains("style="), "{page}: inline style");
            assert!(!html.contains("<style"), "{page}: inline style");
            let handler = html.match_indices(" on").any(|(i, _)| {
                let rest = &html[i + 3..];
                let name: String = rest.chars().take_while(char::is_ascii_lowercase).collect();
                !name.is_empty() && rest[name.len()..].starts_with('=')
            });
            assert!(!handler, "{page}: an inline event handler");
            for src in html
                .split("src=\"")
                .skip(1)
                .chain(html.split("href=\"").skip(1))
            {
                let target = &src[..src.find('"').unwrap()];
                if let Some(file) = target.strip_prefix("/app/")
                    && !file.is_empty()
                    && file != "seller"
                {
                    assert!(served().iter().any(|a| a.name == file), "{page}: {target}");
                }
            }
        }
    }
}
