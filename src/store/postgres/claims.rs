//! Idempotency-Keys in flight across replicas (see migration 0006).

use super::{PgError, Postgres};
use std::time::Duration;

impl Postgres {
    /// Claims `customer`'s key `key` for `holder` for at most `ttl`: false if a request
    /// with it runs elsewhere (a claim that has not lapsed).
    pub async fn claim_key(
        &self,
        customer: &str,
        key: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, PgError> {
        let client = self.client().await?;
        let seconds = ttl.as_secs_f64();
        let claimed = client
            .execute(
                "INSERT INTO idempotency_claims (customer, idem_key, holder, until)
                 VALUES ($1, $2, $3, clock_timestamp() + $4::float8 * interval '1 second')
                 ON CONFLICT (customer, idem_key) DO UPDATE
                     SET holder = EXCLUDED.holder, until = EXCLUDED.until
                     WHERE idempotency_claims.until < clock_timestamp()",
                &[&customer, &key, &holder, &seconds],
            )
            .await?;
        Ok(claimed == 1)
    }

    /// Gives up `holder`'s claim of `customer`'s key `key`.
    pub async fn release_key(
        &self,
        customer: &str,
        key: &str,
        holder: &str,
    ) -> Result<(), PgError> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM idempotency_claims
                 WHERE customer = $1 AND idem_key = $2 AND holder = $3",
                &[&customer, &key, &holder],
            )
            .await?;
        Ok(())
    }
}
