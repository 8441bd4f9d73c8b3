//! What a goose user does in each scenario. Every acknowledged command goes into the
//! [`Book`] for the audit. Each user first takes a client of its own that sends its key.

use crate::Workload;
use crate::book::Book;
use crate::keys::{self, Keyring};
use goose::prelude::*;
use paytree::domain::number::with_check_digit;
use rand::Rng;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Customers each `mixed` user starts with (one method each).
const CUSTOMERS_PER_USER: usize = 4;
/// Times a keyed registration is sent when its answer is a 503 or lost.
const ATTEMPTS: usize = 3;

/// The scenarios of `workload` (a scenario with users of two kinds registers two).
pub fn scenarios(workload: Workload) -> Result<Vec<Scenario>, GooseError> {
    Ok(vec![match workload {
        Workload::Shop => return crate::shop::scenarios(),
        Workload::Register | Workload::Outage => scenario!("register")
            .register_transaction(transaction!(use_key).set_on_start())
            .register_transaction(transaction!(register_new_customer).set_name("register")),
        Workload::Mixed => scenario!("mixed")
            .register_transaction(transaction!(start_customers).set_on_start())
            .register_transaction(transaction!(register_another).set_name("register"))
            .register_transaction(transaction!(change_number).set_name("change"))
            .register_transaction(transaction!(read_mypage).set_name("mypage").set_weight(6)?)
            .register_transaction(
                transaction!(read_messages)
                    .set_name("messages")
                    .set_weight(2)?,
            ),
        Workload::Mypage => scenario!("mypage")
            .register_transaction(transaction!(start_customers).set_on_start())
            .register_transaction(transaction!(read_mypage).set_name("mypage")),
    }])
}

/// A user's own customers and methods (no other user touches them).
#[derive(Clone, Default)]
struct Own {
    sent: u64,
    customers: Vec<String>,
    /// (id, version) of each method registered.
    methods: Vec<(u64, u64)>,
}

fn own(user: &mut GooseUser) -> &mut Own {
    if user.get_session_data::<Own>().is_none() {
        user.set_session_data(Own::default());
    }
    user.get_session_data_unchecked_mut::<Own>()
}

/// A new, unused name for this user's next customer.
fn new_customer(user: &mut GooseUser) -> String {
    let index = user.weighted_users_index;
    let own = own(user);
    own.sent += 1;
    let customer = format!("{}-{index}-{}", Book::get().run, own.sent);
    Book::get().customer(&customer);
    customer
}

async fn register_new_customer(user: &mut GooseUser) -> TransactionResult {
    let customer = new_customer(user);
    register(user, &customer).await
}

/// Gives this user a client of its own that sends its `service` key (see `keys.rs`) with
/// every request.
async fn use_key(user: &mut GooseUser) -> TransactionResult {
    use_key_as(user, "service").await
}

/// Gives this user a client of its own that sends its key with `role` with every request,
/// configured as goose configures its own: `--timeout` (60 s without it) and gzip unless
/// `--no-gzip`.
pub(crate) async fn use_key_as(user: &mut GooseUser, role: &'static str) -> TransactionResult {
    let key = Keyring::get()
        .for_user_as(user.weighted_users_index, role)
        .await
        .map_err(|e| Box::new(TransactionError::Custom(format!("the user's key: {e}"))))?;
    let timeout = user
        .config
        .timeout
        .as_deref()
        .and_then(|t| Duration::try_from_secs_f64(t.parse().ok()?).ok())
        .unwrap_or(Duration::from_secs(60));
    let builder = reqwest::Client::builder()
        .user_agent("paytree-loadtest")
        .default_headers(keys::headers(key.as_ref()))
        .timeout(timeout)
        .gzip(!user.config.no_gzip);
    user.set_client_builder(builder).await?;
    Ok(())
}

async fn start_customers(user: &mut GooseUser) -> TransactionResult {
    use_key(user).await?;
    for _ in 0..CUSTOMERS_PER_USER {
        let customer = new_customer(user);
        own(user).customers.push(customer.clone());
        register(user, &customer).await?;
    }
    Ok(())
}

async fn register_another(user: &mut GooseUser) -> TransactionResult {
    let customer = pick(&own(user).customers);
    register(user, &customer).await
}

/// Registers a new card under an Idempotency-Key, resending it while the answer is a 503 or
/// lost, as a careful client would.
async fn register(user: &mut GooseUser, customer: &str) -> TransactionResult {
    if let Some(method) = register_card(user, customer, &approved_card()).await? {
        own(user).methods.push(method);
    }
    Ok(())
}

/// Registers the card `number` for `customer` as [`register`] does; the method's id and
/// version if it was registered. It leaves the user's session data alone.
pub(crate) async fn register_card(
    user: &mut GooseUser,
    customer: &str,
    number: &str,
) -> Result<Option<(u64, u64)>, Box<TransactionError>> {
    let key = format!("k{}", rand::random::<u64>());
    let body = json!({"customerId": customer, "kind": "card", "number": number});
    for _ in 0..ATTEMPTS {
        let builder = user
            .get_request_builder(&GooseMethod::Post, "/paymethods")?
            .header("idempotency-key", &key)
            .json(&body);
        let request = GooseRequest::builder()
            .method(GooseMethod::Post)
            .path("/paymethods")
            .name("register")
            .expect_status_code(201)
            .set_request_builder(builder)
            .build();
        let (status, answer) = send(user, request).await?;
        match status {
            Some(StatusCode::CREATED) => {
                let (id, version, position) = method_of(&answer)?;
                Book::get().registered(id, position);
                return Ok(Some((id, version)));
            }
            Some(StatusCode::CONFLICT) => tokio::time::sleep(Duration::from_millis(20)).await,
            Some(StatusCode::SERVICE_UNAVAILABLE) | None => {}
            Some(_) => return Ok(None),
        }
    }
    Ok(None)
}

/// Changes the number of one of this user's methods (a new verification each time).
async fn change_number(user: &mut GooseUser) -> TransactionResult {
    let methods = &own(user).methods;
    if methods.is_empty() {
        return Ok(());
    }
    let at = rand::rng().random_range(0..methods.len());
    let id = methods[at].0;
    let path = format!("/paymethods/{id}");
    let builder = user
        .get_request_builder(&GooseMethod::Patch, &path)?
        .json(&json!({"number": approved_card()}));
    let request = GooseRequest::builder()
        .method(GooseMethod::Patch)
        .path(path.as_str())
        .name("change")
        .expect_status_code(200)
        .set_request_builder(builder)
        .build();
    if let (Some(StatusCode::OK), answer) = send(user, request).await? {
        let (id, version, position) = method_of(&answer)?;
        Book::get().changed(id, version, position);
        own(user).methods[at].1 = version;
    }
    Ok(())
}

async fn read_mypage(user: &mut GooseUser) -> TransactionResult {
    let customer = pick(&own(user).customers);
    let path = format!("/mypages/{customer}");
    let request = GooseRequest::builder()
        .path(path.as_str())
        .name("mypage")
        .build();
    user.request(request).await?;
    Ok(())
}

async fn read_messages(user: &mut GooseUser) -> TransactionResult {
    let customer = pick(&own(user).customers);
    let path = format!("/messages?customerId={customer}&limit=20");
    let request = GooseRequest::builder()
        .path(path.as_str())
        .name("messages")
        .build();
    user.request(request).await?;
    Ok(())
}

/// Sends a command; its status (`None` if no answer came) and its body with the
/// `Paytree-Position` header folded in as `"position"`. Every 503 is timed for the report.
pub(crate) async fn send(
    user: &mut GooseUser,
    request: GooseRequest<'_>,
) -> Result<(Option<StatusCode>, Value), Box<TransactionError>> {
    let started = Instant::now();
    let goose = user.request(request).await?;
    let Ok(response) = goose.response else {
        return Ok((None, Value::Null));
    };
    let status = response.status();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        Book::get().unavailable(started.elapsed());
    }
    let position = response
        .headers()
        .get("paytree-position")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut body: Value = response.json().await.unwrap_or(Value::Null);
    if let (Some(p), Value::Object(map)) = (position, &mut body) {
        map.insert("position".into(), p.into());
    }
    Ok((Some(status), body))
}

fn method_of(answer: &Value) -> Result<(u64, u64, u64), Box<TransactionError>> {
    let field = |name: &str| {
        answer[name]
            .as_u64()
            .ok_or_else(|| Box::new(TransactionError::Custom(format!("no {name} in {answer}"))))
    };
    Ok((field("id")?, field("version")?, field("position")?))
}

fn pick(customers: &[String]) -> String {
    customers[rand::rng().random_range(0..customers.len())].clone()
}

/// A random 16-digit Visa number with a valid check digit that the simulated payment
/// system approves (it declines numbers ending in 0002).
pub fn approved_card() -> String {
    let mut rng = rand::rng();
    loop {
        let payload: String = std::iter::once('4')
            .chain((0..14).map(|_| char::from(b'0' + rng.random_range(0..10u8))))
            .collect();
        let number = with_check_digit(&payload);
        if !number.ends_with("0002") {
            return number;
        }
    }
}
