use crate::helpers::*;
use serde_json::json;

/// Every spelling of the test numbers that would betray them.
fn spellings() -> Vec<String> {
    let mut out = Vec::new();
    for n in [
        "4242424242424242",
        "5555555555554444",
        "4000000000000002",
        "110123456789",
        "4242424242424241",
        "378282246310005",
    ] {
        out.push(n.to_owned());
    }
    out.push("4242 4242 4242 4242".into());
    out.push("110-123-456789".into());
    out
}

/// Whether `text` holds `number` whole, not as part of a longer run of digits: `/metrics`
/// renders sums such as 0.014000000000000002, which hold 4000000000000002 as a part.
fn holds_whole(text: &str, number: &str) -> bool {
    let digit = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit());
    text.match_indices(number).any(|(at, _)| {
        !digit(text[..at].chars().next_back()) && !digit(text[at + number.len()..].chars().next())
    })
}

#[tokio::test]
async fn the_full_number_never_appears_in_responses_logs_or_the_store_file() {
    assert!(holds_whole(
        r#"{"n":"4000000000000002"}"#,
        "4000000000000002"
    ));
    assert!(!holds_whole(
        "_sum 0.014000000000000002",
        "4000000000000002"
    ));
    // It reads the server's log and its store file after a SIGTERM: a process of its own.
    let mut app = spawn_process().await;
    let mut seen = String::new();
    let keep = |r: reqwest::Response| async move {
        let mut text = format!("{:?}\n", r.headers());
        text.push_str(&r.text().await.unwrap());
        text
    };
    let id = {
        let r = app.register("vera", "card", "4242 4242 4242 4242").await;
        let text = r.text().await.unwrap();
        seen.push_str(&text);
        serde_json::from_str::<serde_json::Value>(&text)
            .unwrap()
            .id()
    };
    seen.push_str(&keep(app.register("vera", "card", "4000000000000002").await).await);
    seen.push_str(&keep(app.register("vera", "card", "4242424242424241").await).await);
    seen.push_str(&keep(app.register("vera", "card", "378282246310005").await).await);
    seen.push_str(&keep(app.register("vera!", "bank", "110-123-456789").await).await);
    // Wrong type and an unknown field spelled as the number: the 400 must not echo either.
    let wrong = r#"{"customerId": "vera", "kind": "card", "number": 4242424242424242}"#;
    seen.push_str(
        &keep(
            app.post_raw("/paymethods", Some("application/json"), wrong)
                .await,
        )
        .await,
    );
    let unknown = r#"{"customerId": "vera", "kind": "card", "number": "1", "4242424242424242": 1}"#;
    seen.push_str(
        &keep(
            app.post_raw("/paymethods", Some("application/json"), unknown)
                .await,
        )
        .await,
    );
    let bad_type = r#"{"customerId": "vera", "kind": "card", "number": "5555555555554444", "requestId": "110123456789"}"#;
    seen.push_str(
        &keep(
            app.post_raw("/paymethods", Some("application/json"), bad_type)
                .await,
        )
        .await,
    );
    seen.push_str(
        &keep(
            app.change(id, &json!({"number": "5555555555554444"}), None)
                .await,
        )
        .await,
    );
    seen.push_str(
        &keep(
            app.change(
                id,
                &json!({"kind": "bank", "number": "110-123-456789"}),
                None,
            )
            .await,
        )
        .await,
    );
    seen.push_str(&keep(app.get_paymethod(id).await).await);
    seen.push_str(&keep(app.get("/paymethods?customerId=vera").await).await);
    seen.push_str(&keep(app.get("/payments?customerId=vera").await).await);
    seen.push_str(&keep(app.get("/metrics").await).await);
    assert!(seen.contains("**** **** **** 4242"), "the workload ran");
    assert!(app.stop().await.success());

    let log = app.log();
    assert!(log.contains("paytree started"), "the log was captured");
    let store = std::fs::read(app.dir.join("paytree.redb")).unwrap();
    assert!(
        store.windows(4).any(|w| w == b"4242"),
        "the store holds the last four digits"
    );
    for number in spellings() {
        assert!(!holds_whole(&seen, &number), "a response contains {number}");
        assert!(!log.contains(&number), "the log contains {number}");
        assert!(
            !store.windows(number.len()).any(|w| w == number.as_bytes()),
            "the store file contains {number}"
        );
    }
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_dir_the_store_and_the_secret_are_for_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    // In this process, on a data dir that paytree creates itself.
    let app = spawn_app().await;
    app.register_ok("olga", VISA).await;
    let mode = |name: &str| {
        let path = app.dir.join(name);
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode(""), 0o700, "the data dir");
    assert_eq!(
        mode("paytree.redb"),
        0o600,
        "the store, which holds the tokens"
    );
    assert_eq!(mode("secret.key"), 0o600, "the fingerprint secret");
}
