//! The webhook channel: one signed `POST` of a message as JSON. The signature is
//! `Paytree-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the secret>`,
//! so a receiver can check both who sent it and when (and refuse old replays).

use crate::config::WebhookConfig;
use crate::domain::Timestamp;
use crate::domain::message::{Channel, DeliveryAttempt, Message};
use crate::tls::ClientTls;
use anyhow::Context;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use std::time::{Duration, Instant};

pub const SIGNATURE_HEADER: &str = "Paytree-Signature";
/// The recorded error of an attempt that got no answer in time.
const TIMED_OUT: &str = "timed out";

/// The signature header's value for `body` sent at `unix_seconds`.
pub fn signature(secret: &[u8], unix_seconds: i64, body: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(unix_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={unix_seconds},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// What a receiver gets. `eventId` is there for deduplication: delivery is at-least-once.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    id: u64,
    event_id: u64,
    customer_id: &'a str,
    paymethod_id: Option<u64>,
    order_id: Option<u64>,
    #[serde(rename = "type")]
    kind: &'a str,
    text: &'a str,
    created_at: String,
    attempt: u32,
}

#[derive(Clone, Debug)]
pub struct Webhook {
    config: WebhookConfig,
    http: reqwest::Client,
}

impl Webhook {
    /// A client for `config.url`; an https:// one is verified against `tls`'s roots.
    pub fn new(config: WebhookConfig, timeout: Duration, tls: &ClientTls) -> anyhow::Result<Self> {
        let http = tls
            .http_client()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the webhook's HTTP client")?;
        Ok(Self { config, http })
    }

    /// Sends `message` once as attempt number `number` and says how it went.
    pub async fn send(&self, message: &Message, number: u32) -> DeliveryAttempt {
        let body = Body {
            id: message.id.0,
            event_id: message.event_id.0,
            customer_id: message.customer_id.as_str(),
            paymethod_id: message.paymethod_id.map(|id| id.0),
            order_id: message.order_id.map(|id| id.0),
            kind: &message.kind,
            text: &message.text,
            created_at: message.created_at.to_rfc3339(),
            attempt: number,
        };
        let body = serde_json::to_vec(&body).expect("the body always serializes");
        let at = Timestamp::now();
        let signed = signature(self.config.secret.expose().as_bytes(), at.0 / 1_000, &body);
        let started = Instant::now();
        let result = self
            .http
            .post(&self.config.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signed)
            .body(body)
            .send()
            .await;
        let duration_ms = started.elapsed().as_millis() as u64;
        let (status_code, error) = match result {
            Ok(r) if r.status().is_success() => (Some(r.status().as_u16()), None),
            Ok(r) => (
                Some(r.status().as_u16()),
                Some(format!("the receiver answered {}", r.status().as_u16())),
            ),
            Err(e) if e.is_timeout() => (None, Some(TIMED_OUT.to_owned())),
            Err(e) if e.is_connect() => {
                let why = crate::tls::request_error(e);
                (None, Some(format!("could not connect ({why})")))
            }
            Err(_) => (None, Some("the request failed".to_owned())),
        };
        DeliveryAttempt {
            number,
            channel: Channel::Webhook,
            at,
            status_code,
            duration_ms,
            error,
        }
    }
}

impl DeliveryAttempt {
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }

    /// A low-cardinality label for metrics.
    pub fn outcome(&self) -> &'static str {
        match (&self.error, self.status_code) {
            (None, _) => "delivered",
            (Some(_), Some(_)) => "rejected",
            (Some(e), None) if e == TIMED_OUT => "timeout",
            (Some(_), None) => "error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_time_and_body() {
        let a = signature(b"secret", 1_700_000_000, b"{\"id\":1}");
        // Computed independently: Python's hmac.new(b"secret", b'1700000000.{"id":1}', sha256).
        assert_eq!(
            a,
            "t=1700000000,v1=3dd1b9aef568d75f6790a84bd2e5dfa1f44409eef3cbdbd3f10b837376100c11"
        );
        assert_ne!(a, signature(b"secret", 1_700_000_001, b"{\"id\":1}"));
        assert_ne!(a, signature(b"secret", 1_700_000_000, b"{\"id\":2}"));
        assert_ne!(a, signature(b"other", 1_700_000_000, b"{\"id\":1}"));
    }
}
