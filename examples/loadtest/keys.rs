//! The load test's API keys. paytree wants a key on every route but health, readiness and
//! the OpenAPI document. The load test takes the admin key (`--admin-key-file PATH`, else
//! `PAYTREE_ADMIN_KEY`, else `./data/admin.key`), makes one `service` key per goose user
//! through `POST /admin/keys` before the run (each user is a merchant's backend acting for the
//! customers it registers), and revokes them after it. The `shop` scenario's seller users
//! make a `seller` key each the same way when they start (its `service` key then goes unused). The audit and the outage monitor read
//! paytree with the admin key; the payment system (`--provider`) is sent no key.
//!
//! A key travels only in a client's default headers, marked sensitive: goose records the
//! headers of the requests it builds in its request and debug logs, not a client's defaults,
//! so no log of the run holds a key.

use anyhow::Context;
use paytree::auth::ApiKey;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, RETRY_AFTER};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::sync::Mutex;

/// The admin key's file when neither `--admin-key-file` nor `PAYTREE_ADMIN_KEY` is given:
/// where `paytree serve` writes it with its default data dir.
pub const DEFAULT_FILE: &str = "./data/admin.key";

/// How long a key made for a run lives if the run dies before revoking it.
const LIFETIME: time::Duration = time::Duration::DAY;

/// Times an admin call is sent while paytree answers 429 (after its `Retry-After`).
const ATTEMPTS: usize = 10;

/// The admin key: from `file` if given, else `PAYTREE_ADMIN_KEY`, else [`DEFAULT_FILE`].
pub fn admin_key(file: Option<&Path>) -> anyhow::Result<ApiKey> {
    let (raw, from) = match (file, std::env::var("PAYTREE_ADMIN_KEY")) {
        (Some(file), _) => (read(file)?, file.display().to_string()),
        (None, Ok(raw)) => (raw, "PAYTREE_ADMIN_KEY".to_owned()),
        (None, Err(_)) => (read(Path::new(DEFAULT_FILE))?, DEFAULT_FILE.to_owned()),
    };
    ApiKey::parse(raw.trim())
        .with_context(|| format!("{from} does not hold a paytree key (ptk_ and 43 characters)"))
}

fn read(file: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(file).with_context(|| {
        format!(
            "reading the admin key from {} (paytree writes <data-dir>/admin.key at its first \
             start; --admin-key-file PATH or PAYTREE_ADMIN_KEY gives another, --no-keys sends \
             none)",
            file.display()
        )
    })
}

/// Default headers for a client that sends `key` (no header without one).
pub fn headers(key: Option<&ApiKey>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(key) = key {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", key.expose()))
            .expect("a parsed key is a valid header value");
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
    }
    headers
}

/// The keys made for this run's users, by goose user index.
pub struct Keyring {
    /// paytree's address and a client sending the admin key; `None` with `--no-keys`.
    admin: Option<(reqwest::Client, String)>,
    run: String,
    made: Mutex<BTreeMap<Holder, (String, ApiKey)>>,
}

/// Whose a key is: a goose user's index and the key's role.
type Holder = (usize, &'static str);

static KEYRING: OnceLock<Keyring> = OnceLock::new();

impl Keyring {
    /// `admin` is `None` with `--no-keys`: users then send no key.
    pub fn install(admin: Option<(reqwest::Client, String)>, run: &str) -> &'static Keyring {
        KEYRING.get_or_init(|| Keyring {
            admin,
            run: run.to_owned(),
            made: Mutex::default(),
        })
    }

    pub fn get() -> &'static Keyring {
        KEYRING
            .get()
            .expect("the keyring is installed before the run")
    }

    /// The `service` key of goose user `index`, made on first use; `None` with `--no-keys`.
    pub async fn for_user(&self, index: usize) -> Result<Option<ApiKey>, String> {
        self.for_user_as(index, "service").await
    }

    /// The key of goose user `index` with `role` (`service` or `seller`), made on first use
    /// in the same way; `None` with `--no-keys`.
    pub async fn for_user_as(
        &self,
        index: usize,
        role: &'static str,
    ) -> Result<Option<ApiKey>, String> {
        let Some((client, host)) = &self.admin else {
            return Ok(None);
        };
        let mut made = self.made.lock().await;
        if let Some((_, key)) = made.get(&(index, role)) {
            return Ok(Some(key.clone()));
        }
        let expires = (time::OffsetDateTime::now_utc() + LIFETIME)
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| e.to_string())?;
        let name = match role {
            "service" => format!("loadtest {} user {index}", self.run),
            _ => format!("loadtest {} user {index} {role}", self.run),
        };
        let body = json!({
            "role": role,
            "name": name,
            "expiresAt": expires,
        });
        let url = format!("{host}/admin/keys");
        let response = call(&url, || client.post(&url).json(&body)).await?;
        let status = response.status();
        if status != StatusCode::CREATED {
            let hint = match status {
                StatusCode::UNAUTHORIZED => ": the admin key is not one of this paytree's",
                StatusCode::FORBIDDEN => ": that key is not an admin key",
                StatusCode::NOT_FOUND => ": a paytree without keys? then --no-keys",
                _ => "",
            };
            return Err(format!("POST {url} answered {status}{hint}"));
        }
        let answer: Value = response.json().await.map_err(|e| e.to_string())?;
        let made_key = (
            answer["id"].as_str(),
            answer["key"].as_str().and_then(ApiKey::parse),
        );
        let (Some(id), Some(key)) = made_key else {
            return Err(format!("POST {url}: no id and key in its answer"));
        };
        made.insert((index, role), (id.to_owned(), key.clone()));
        Ok(Some(key))
    }

    /// Makes the keys of users `0..users` before the run.
    pub async fn prepare(&self, users: usize) -> Result<(), String> {
        for index in 0..users {
            self.for_user(index).await?;
        }
        Ok(())
    }

    /// Revokes every key made for this run; what could not be revoked, as warnings.
    pub async fn revoke_all(&self) -> Vec<String> {
        let Some((client, host)) = &self.admin else {
            return Vec::new();
        };
        let made = std::mem::take(&mut *self.made.lock().await);
        let mut warnings = Vec::new();
        for (id, _) in made.values() {
            let url = format!("{host}/admin/keys/{id}");
            match call(&url, || client.delete(&url)).await {
                Ok(r) if r.status() == StatusCode::NO_CONTENT => {}
                Ok(r) => warnings.push(format!("DELETE {url} answered {}", r.status())),
                Err(e) => warnings.push(e),
            }
        }
        if warnings.is_empty() && !made.is_empty() {
            println!("\nrevoked the {} keys made for this run", made.len());
        }
        warnings
    }
}

/// Sends the request `build` makes, again after `Retry-After` while paytree answers 429 (the
/// admin key has the per-key limit too).
async fn call(
    url: &str,
    build: impl Fn() -> reqwest::RequestBuilder,
) -> Result<reqwest::Response, String> {
    for _ in 0..ATTEMPTS {
        let response = build().send().await.map_err(|e| format!("{url}: {e}"))?;
        if response.status() != StatusCode::TOO_MANY_REQUESTS {
            return Ok(response);
        }
        let wait = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .unwrap_or(1);
        tokio::time::sleep(Duration::from_secs(wait)).await;
    }
    Err(format!("{url}: still 429 after {ATTEMPTS} tries"))
}
