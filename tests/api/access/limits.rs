//! The per-key rate limit (a token bucket: a sustained rate, bursts of twice it) and the
//! limit on failed authentications per client address.

use super::*;

#[tokio::test]
async fn a_burst_past_the_key_limit_gets_429_with_retry_after_and_the_bucket_refills() {
    // 5 a second sustained, bursts of 10.
    // A key's bucket is each replica's own (the README says so): one replica's here.
    let admin = spawn_app_with(&["--rate-limit-per-key", "5"])
        .await
        .one_replica();
    let service = admin.as_role("service", None).await;
    let path = format!("/paymethods?customerId={ALICE}");
    let mut statuses = Vec::new();
    let mut retry = None;
    for _ in 0..30 {
        let r = service.get(&path).await;
        if r.status() == 429 {
            retry.get_or_insert(retry_after(&r));
            let problem = assert_problem(r, 429, "rate-limited").await;
            assert!(problem["detail"].is_string());
            statuses.push(429);
        } else {
            statuses.push(r.status().as_u16());
        }
    }
    let ok = statuses.iter().filter(|s| **s == 200).count();
    // The burst of 10, and perhaps one or two more that refilled while the loop ran.
    assert!((10..=14).contains(&ok), "{statuses:?}");
    assert_eq!(statuses[..10], [200; 10], "the burst passes");
    assert!(statuses.contains(&429), "{statuses:?}");
    assert_eq!(retry, Some(1), "one token comes back within a second");
    // Per key: another key of the same role is not limited by this one's burst.
    let other = admin.as_role("service", None).await;
    assert_eq!(other.get(&path).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let refilled: Vec<u16> = futures_statuses(&service, &path, 5).await;
    assert_eq!(refilled, [200; 5], "five tokens back after a second");
}

async fn futures_statuses(app: &TestApp, path: &str, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(app.get(path).await.status().as_u16());
    }
    out
}

#[tokio::test]
async fn twenty_five_failed_authentications_from_one_address_get_429_from_the_21st_on() {
    // Each replica counts the failures it sees (the README says so): one replica's here.
    let admin = spawn_app_with(&["--auth-failures-per-minute", "20"])
        .await
        .one_replica();
    let wrong = admin.with_key("ptk_0123456789abcdefghijABCDEFGHIJ0123456789abc");
    let mut statuses = Vec::new();
    for _ in 0..25 {
        let r = wrong.get(&format!("/paymethods?customerId={ALICE}")).await;
        if r.status() == 429 {
            assert!(retry_after(&r) >= 1);
        }
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses[..20], [401; 20], "{statuses:?}");
    assert_eq!(statuses[20..], [429; 5], "{statuses:?}");
    // A good key from the same address still works: the limit is on failures.
    assert_eq!(
        admin
            .get(&format!("/paymethods?customerId={ALICE}"))
            .await
            .status(),
        200
    );
}
