//! The HTTP client for a payment system at a base URL. Timeouts are not set here: the payment
//! actor puts its timeout inside the circuit breaker's guarded call, where it is counted.

use super::wire::{AuthorizationBody, AuthorizationReply};
use super::{Authorization, AuthorizeRequest, ProviderError};

#[derive(Clone, Debug)]
pub struct HttpPaymentSystem {
    base: String,
    http: reqwest::Client,
}

impl HttpPaymentSystem {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .build()
                .expect("a client without TLS always builds"),
        }
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
            .await
            // The error's text may name the URL but never the body, so it is safe to keep.
            .map_err(|e| ProviderError::Connect(e.without_url().to_string()))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(ProviderError::Unavailable(status.as_u16()));
        }
        if !status.is_success() {
            return Err(ProviderError::Protocol(format!("status {status}")));
        }
        let reply: AuthorizationReply = response
            .json()
            .await
            .map_err(|_| ProviderError::Protocol("unreadable authorization".into()))?;
        Ok(reply.into())
    }
}
