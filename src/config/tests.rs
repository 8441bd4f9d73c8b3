//! Settings resolved from flags, the environment, a config file and the defaults.

use super::*;

#[test]
fn flags_win_over_the_file_which_wins_over_defaults() {
    let file: Overrides = toml::from_str(
        "listen = \"127.0.0.1:9000\"\nbreaker_open_ms = 200\nprovider = \"http://127.0.0.1:1\"",
    )
    .unwrap();
    let flags = Overrides {
        listen: Some("127.0.0.1:7000".parse().unwrap()),
        ..Overrides::default()
    };
    let s = Settings::resolve(flags.over(file)).unwrap();
    assert_eq!(s.listen.port(), 7000);
    assert_eq!(s.breaker.open_for, Duration::from_millis(200));
    assert_eq!(
        s.provider,
        ProviderSetting::Url("http://127.0.0.1:1".into())
    );
    assert_eq!(s.data_dir, PathBuf::from("./data"));
    assert_eq!(s.breaker.call_timeout, Duration::from_secs(2));
    assert_eq!(s.aggregates.queue_wait, Duration::from_secs(13));
}

#[test]
fn the_command_queue_wait_follows_the_payment_timeout_unless_it_is_set() {
    let o = Overrides {
        payment_timeout_ms: Some(500),
        ..Overrides::default()
    };
    let s = Settings::resolve(o).unwrap();
    assert_eq!(s.aggregates.queue_wait, Duration::from_millis(11_500));
    let o = Overrides {
        command_queue_ms: Some(2_000),
        ..Overrides::default()
    };
    let s = Settings::resolve(o).unwrap();
    assert_eq!(s.aggregates.queue_wait, Duration::from_secs(2));
}

#[test]
fn retry_schedules_parse_and_a_webhook_needs_its_secret() {
    assert_eq!(
        parse_schedule("500ms, 2s,1m,1h").unwrap(),
        [500, 2_000, 60_000, 3_600_000].map(Duration::from_millis)
    );
    assert!(parse_schedule("2 days").is_err());
    assert!(parse_schedule("s").is_err());
    let o = Overrides {
        notify_webhook: Some("http://127.0.0.1:1/hook".into()),
        ..Overrides::default()
    };
    assert!(Settings::resolve(o.clone()).is_err());
    let with_secret = Overrides {
        notify_webhook_secret: Some(Secret::from("s3cret".to_owned())),
        ..o
    };
    let s = Settings::resolve(with_secret).unwrap();
    assert_eq!(s.notify.webhook.unwrap().url, "http://127.0.0.1:1/hook");
    assert_eq!(s.notify.retries.len(), 12);
    assert_eq!(s.notify.timeout, Duration::from_secs(5));
}

#[test]
fn the_server_limits_have_their_defaults_and_can_be_set() {
    let s = Settings::resolve(Overrides::default()).unwrap();
    assert_eq!(s.limits.header_timeout, Duration::from_secs(10));
    assert_eq!(s.limits.body_timeout, Duration::from_secs(15));
    assert_eq!(s.limits.max_connections, 1024);
    assert_eq!(s.limits.shutdown_grace, Duration::from_secs(10));
    let file: Overrides =
        toml::from_str("max_connections = 8\nshutdown_grace_ms = 250\nbody_timeout_ms = 0")
            .unwrap();
    let s = Settings::resolve(file).unwrap();
    assert_eq!(s.limits.max_connections, 8);
    assert_eq!(s.limits.shutdown_grace, Duration::from_millis(250));
    assert_eq!(s.limits.body_timeout, Duration::from_millis(1));
}

#[test]
fn tls_files_come_in_pairs() {
    let cert = || Some(PathBuf::from("cert.pem"));
    let key = || Some(PathBuf::from("key.pem"));
    let only_cert = Overrides {
        tls_cert: cert(),
        ..Overrides::default()
    };
    let message = Settings::resolve(only_cert).unwrap_err().to_string();
    assert_eq!(message, "--tls-cert needs --tls-key");
    let only_key = Overrides {
        tls_key: key(),
        ..Overrides::default()
    };
    assert!(Settings::resolve(only_key).is_err());
    let both = Overrides {
        tls_cert: cert(),
        tls_key: key(),
        ..Overrides::default()
    };
    let s = Settings::resolve(both).unwrap();
    assert_eq!(s.tls.serve, Some((cert().unwrap(), key().unwrap())));
    assert_eq!(s.tls.ca_file, None);
    let file: Overrides = toml::from_str("ca_file = \"ca.pem\"").unwrap();
    let s = Settings::resolve(file).unwrap();
    assert_eq!(s.tls.ca_file, Some(PathBuf::from("ca.pem")));
}

#[test]
fn secrets_never_show_in_debug_output() {
    let o: Overrides = toml::from_str(
        "provider = \"https://127.0.0.1:1\"\nprovider_key = \"psk_live_1\"\n\
         notify_webhook = \"https://127.0.0.1:2/hook\"\nnotify_webhook_secret = \"whsec_1\"\n\
         store = \"postgres://paytree:pgpass_1@127.0.0.1/paytree\"\n\
         events = \"nats://127.0.0.1:4222\"\nsecret = \"5ec2e7_1\"",
    )
    .unwrap();
    let s = Settings::resolve(o.clone()).unwrap();
    assert_eq!(s.provider_key.as_ref().unwrap().expose(), "psk_live_1");
    for text in [format!("{o:?}"), format!("{s:?}")] {
        assert!(!text.contains("psk_live_1"), "{text}");
        assert!(!text.contains("whsec_1"), "{text}");
        assert!(!text.contains("pgpass_1"), "{text}");
        assert!(!text.contains("5ec2e7_1"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }
}

#[test]
fn unknown_file_keys_and_bad_providers_are_refused() {
    assert!(toml::from_str::<Overrides>("listn = \"x\"").is_err());
    let o = Overrides {
        provider: Some("ftp://x".into()),
        ..Overrides::default()
    };
    assert!(Settings::resolve(o).is_err());
}

#[test]
fn the_store_is_embedded_unless_a_postgres_url_and_a_nats_server_are_given() {
    let resolve = |toml: &str| Settings::resolve(toml::from_str(toml).unwrap());
    let s = resolve("").unwrap();
    assert_eq!(
        (s.store, s.data_dir),
        (StoreSetting::Redb, PathBuf::from("./data"))
    );
    let s = resolve("store = \"redb:/var/lib/paytree\"").unwrap();
    assert_eq!(
        (s.store, s.data_dir),
        (StoreSetting::Redb, PathBuf::from("/var/lib/paytree"))
    );
    let s = resolve("store = \"postgres://u@db/p\"\nevents = \"nats://bus:4222\"").unwrap();
    assert_eq!(
        s.store,
        StoreSetting::Postgres {
            url: Secret::from("postgres://u@db/p".to_owned()),
            events: "nats://bus:4222".into()
        }
    );
    for (toml, says) in [
        ("store = \"postgres://u:pw@db/p\"", "needs --events"),
        (
            "store = \"postgres://u@db/p\"\nevents = \"http://bus\"",
            "nats://",
        ),
        (
            "store = \"postgres://u@db/p\"\nevents = \"nats://bus/a.b\"",
            "STREAM",
        ),
        ("events = \"nats://bus:4222\"", "embedded store needs none"),
        ("store = \"mysql://u:pw@db/p\"", "must be `redb`"),
        ("store = \"redb:\"", "must be `redb`"),
    ] {
        let error = resolve(toml).unwrap_err().to_string();
        assert!(error.contains(says), "{toml}: {error}");
        assert!(
            !error.contains("pw@"),
            "the password is not repeated: {error}"
        );
    }
}
