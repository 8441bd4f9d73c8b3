//! The HTTP client for a payment system at a base URL (http:// or https://, verified against
//! [`ClientTls`]'s roots), which it authenticates to with its key as a bearer token. Timeouts
//! are not set here: the payment actor puts its timeout inside the circuit breaker's guarded
//! call, where it is counted.

use super::wire::{AuthorizationBody, AuthorizationReply, RefundBody, RefundReply};
use super::{Authorization, AuthorizeRequest, ProviderError};
use crate::config::Secret;
use crate::tls::ClientTls;
use anyhow::Context;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;
use std::time::Duration;

/// `Debug` shows the key's header as `Sensitive`, never its value.
#[derive(Clone, Debug)]
pub struct HttpPaymentSystem {
    base: String,
    http: reqwest::Client,
}

impl HttpPaymentSystem {
    pub fn new(base: &str, key: Option<&Secret>, tls: &ClientTls) -> anyhow::Result<Self> {
        let mut headers = HeaderMap::new();
        if let Some(key) = key {
            let mut bearer = HeaderValue::try_from(format!("Bearer {}", key.expose()))
                .ok()
                .context("--provider-key must be visible ASCII")?;
            bearer.set_sensitive(true);
            headers.insert(AUTHORIZATION, bearer);
        }
        let http = tls
            .http_client()
            .default_headers(headers)
            .pool_max_idle_per_host(64)
            // Shorter than a server's idle timeout (paytree's own is 10 s), so that a pooled
            // connection is not reused just as the server closes it.
            .pool_idle_timeout(Duration::from_secs(5))
            .build()
            .context("building the payment system's HTTP client")?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            http,
        })
    }

    pub async fn authorize(
        &self,
        request: &AuthorizeRequest,
    ) -> Result<Authorization, ProviderError> {
        let response = self
            .http
            .post(format!("{}/v1/authorizations", self.base))
            .header("Idempotency-Key", &request.idempotency_key)
            .json(&AuthorizationBody::from_request(request))
            .send()
            .await;
        let reply: AuthorizationReply = answer(response).await?.ok_or_else(not_found)?;
        Ok(reply.into())
    }

    /// The authorization made for `reference`, if any.
    pub async fn find(&self, reference: &str) -> Result<Option<Authorization>, ProviderError> {
        let mut url = reqwest::Url::parse(&format!("{}/v1/authorizations", self.base))
            .map_err(|e| ProviderError::Connect(e.to_string()))?;
        url.query_pairs_mut().append_pair("reference", reference);
        let response = self.http.get(url).send().await;
        Ok(answer::<AuthorizationReply>(response)
            .await?
            .map(Authorization::from))
    }

    /// Refunds an approved authorization; asking again with the same key returns the same
    /// refund.
    pub async fn refund(
        &self,
        authorization: &str,
        amount: u64,
        idempotency_key: &str,
    ) -> Result<String, ProviderError> {
        let body = RefundBody {
            authorization: authorization.to_owned(),
            amount,
        };
        let response = self
            .http
            .post(format!("{}/v1/refunds", self.base))
            .header("Idempotency-Key", idempotency_key)
            .json(&body)
            .send()
            .await;
        let reply: RefundReply = answer(response).await?.ok_or_else(not_found)?;
        Ok(reply.id)
    }
}

fn not_found() -> ProviderError {
    ProviderError::Protocol("status 404 Not Found".into())
}

/// Reads a JSON answer: `None` for a 404, an error for anything but success.
async fn answer<T: DeserializeOwned>(
    response: reqwest::Result<reqwest::Response>,
) -> Result<Option<T>, ProviderError> {
    // The error's text names neither the URL nor the body, so it is safe to keep.
    let response = response.map_err(|e| ProviderError::Connect(crate::tls::request_error(e)))?;
    let status = response.status();
    if status == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if status.is_server_error() {
        return Err(ProviderError::Unavailable(status.as_u16()));
    }
    if !status.is_success() {
        return Err(ProviderError::Protocol(format!("status {status}")));
    }
    let body = response
        .json()
        .await
        .map_err(|_| ProviderError::Protocol("unreadable answer".into()))?;
    Ok(Some(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_never_shows_in_debug_output() {
        let key = Secret::from("psk_live_0123456789".to_owned());
        let tls = ClientTls::new(None).unwrap();
        let client = HttpPaymentSystem::new("https://127.0.0.1:1/", Some(&key), &tls).unwrap();
        let text = format!("{client:?}");
        assert!(!text.contains("psk_live_0123456789"), "{text}");
        assert!(text.contains("Sensitive"), "{text}");
        assert!(
            HttpPaymentSystem::new("http://x", Some(&Secret::from("a\nb".to_owned())), &tls)
                .is_err()
        );
    }
}
