//! Breaker behaviour on paused tokio time: no test here waits on the wall clock.

use super::*;

#[derive(Debug, PartialEq)]
enum Err {
    Down,
    NotOurs,
}

fn is_failure(e: &Err) -> bool {
    *e == Err::Down
}

fn config() -> BreakerConfig {
    BreakerConfig::default()
}

async fn fail(b: &Breaker) -> Result<(), CallError<Err>> {
    let permit = b.try_acquire().map_err(CallError::Rejected)?;
    b.call(permit, is_failure, async {
        Result::<(), Err>::Err(Err::Down)
    })
    .await
}

async fn succeed(b: &Breaker) -> Result<(), CallError<Err>> {
    let permit = b.try_acquire().map_err(CallError::Rejected)?;
    b.call(permit, is_failure, async { Result::<(), Err>::Ok(()) })
        .await
}

/// A breaker that five failures opened and whose open period is over: the next call probes.
async fn open_and_over() -> Breaker {
    let b = Breaker::new(config());
    for _ in 0..5 {
        fail(&b).await.unwrap_err();
    }
    tokio::time::advance(config().open_for).await;
    b
}

#[tokio::test(start_paused = true)]
async fn opens_after_five_consecutive_failures_and_rejects_with_the_remaining_time() {
    let b = Breaker::new(config());
    for _ in 0..4 {
        assert_eq!(fail(&b).await, Err(CallError::Inner(Err::Down)));
        assert_eq!(b.state(), BreakerState::Closed);
    }
    fail(&b).await.unwrap_err();
    assert_eq!(b.state(), BreakerState::Open);
    tokio::time::advance(Duration::from_millis(1500)).await;
    let rejected = b.try_acquire().unwrap_err();
    assert_eq!(rejected.retry_after, Duration::from_millis(3500));
    assert_eq!(ceil_secs(rejected.retry_after), 4);
    assert_eq!(b.snapshot().retry_after_seconds, 4);
}

#[tokio::test(start_paused = true)]
async fn answers_and_errors_that_are_not_failures_never_trip_it() {
    let b = Breaker::new(config());
    for _ in 0..50 {
        let permit = b.try_acquire().unwrap();
        let r = b
            .call(permit, is_failure, async {
                Result::<(), Err>::Err(Err::NotOurs)
            })
            .await;
        assert_eq!(r, Err(CallError::Inner(Err::NotOurs)));
        succeed(&b).await.unwrap();
    }
    assert_eq!(b.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_slow_call_times_out_inside_the_guard_and_counts_as_a_failure() {
    let b = Breaker::new(config());
    for _ in 0..5 {
        let permit = b.try_acquire().unwrap();
        let slow = async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            Result::<(), Err>::Ok(())
        };
        assert_eq!(
            b.call(permit, is_failure, slow).await,
            Err(CallError::Timeout)
        );
    }
    assert_eq!(b.state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn half_open_lets_at_most_three_probes_through_and_a_success_closes_it() {
    let b = open_and_over().await;
    let probes: Vec<_> = (0..3).map(|_| b.try_acquire().unwrap()).collect();
    assert_eq!(b.state(), BreakerState::HalfOpen);
    assert!(b.try_acquire().is_err(), "a fourth probe must wait");
    let mut probes = probes.into_iter();
    let first = probes.next().unwrap();
    b.call(first, is_failure, async { Result::<(), Err>::Ok(()) })
        .await
        .unwrap();
    assert_eq!(b.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_probe_gives_its_slot_back() {
    let b = open_and_over().await;
    let held: Vec<_> = (0..3).map(|_| b.try_acquire().unwrap()).collect();
    assert!(b.try_acquire().is_err());
    // A probe whose caller gave up halfway (the future is dropped before it finishes).
    let mut probes = held.into_iter();
    let p = probes.next().unwrap();
    let abandoned = b.call(p, is_failure, std::future::pending::<Result<(), Err>>());
    tokio::select! {
        _ = abandoned => unreachable!("a pending call cannot finish"),
        _ = tokio::time::sleep(Duration::from_millis(10)) => {}
    }
    assert_eq!(b.snapshot().probes_in_flight, 2);
    assert!(b.try_acquire().is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_reopens_it_for_the_full_period() {
    let b = open_and_over().await;
    fail(&b).await.unwrap_err();
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(b.snapshot().retry_after_seconds, 5);
}

#[tokio::test(start_paused = true)]
async fn opens_when_half_of_ten_calls_in_the_window_failed() {
    let b = Breaker::new(config());
    for _ in 0..4 {
        succeed(&b).await.unwrap();
        fail(&b).await.unwrap_err();
    }
    succeed(&b).await.unwrap();
    assert_eq!(b.state(), BreakerState::Closed, "4 of 9 failed");
    fail(&b).await.unwrap_err();
    assert_eq!(b.state(), BreakerState::Open, "5 of 10 failed");
}

#[tokio::test(start_paused = true)]
async fn failures_older_than_the_window_do_not_count() {
    let b = Breaker::new(config());
    for _ in 0..4 {
        succeed(&b).await.unwrap();
        fail(&b).await.unwrap_err();
    }
    tokio::time::advance(Duration::from_secs(11)).await;
    succeed(&b).await.unwrap();
    fail(&b).await.unwrap_err();
    assert_eq!(b.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_probe_that_starts_after_another_probe_reopened_it_cannot_close_it() {
    let b = open_and_over().await;
    let first = b.try_acquire().unwrap();
    let second = b.try_acquire().unwrap();
    let failed = b
        .call(first, is_failure, async {
            Result::<(), Err>::Err(Err::Down)
        })
        .await;
    assert_eq!(failed, Err(CallError::Inner(Err::Down)));
    assert_eq!(b.state(), BreakerState::Open);
    let late = b
        .call(second, is_failure, async { Result::<(), Err>::Ok(()) })
        .await;
    assert!(matches!(late, Err(CallError::Rejected(_))), "{late:?}");
    assert_eq!(
        b.state(),
        BreakerState::Open,
        "the open period is not cut short"
    );
    assert_eq!(b.snapshot().retry_after_seconds, 5);
}

#[tokio::test(start_paused = true)]
async fn an_open_period_restored_after_a_restart_lasts_only_what_was_left_then_probes_close_it() {
    let before = Breaker::new(config());
    let mut openings = before.openings();
    for _ in 0..5 {
        fail(&before).await.unwrap_err();
    }
    assert!(openings.has_changed().unwrap());
    let until = openings.borrow_and_update().expect("opening published");
    let left = until.duration_since(SystemTime::now()).unwrap();
    assert!(left > Duration::from_secs(4) && left <= Duration::from_secs(5));

    // A new process: the breaker starts open for the 2 s that were left.
    let after = Breaker::new(config());
    after.restore_open(Duration::from_secs(2));
    assert_eq!(after.state(), BreakerState::Open);
    assert_eq!(
        after.try_acquire().unwrap_err().retry_after,
        Duration::from_secs(2)
    );
    tokio::time::advance(Duration::from_millis(2001)).await;
    succeed(&after).await.unwrap();
    assert_eq!(after.state(), BreakerState::Closed);
    for _ in 0..4 {
        fail(&after).await.unwrap_err();
    }
    assert_eq!(
        after.state(),
        BreakerState::Closed,
        "the restored failures do not count against the next period"
    );
}

#[tokio::test(start_paused = true)]
async fn open_remaining_tells_the_time_left_and_leaves_the_probes_to_try_acquire() {
    let b = Breaker::new(config());
    assert_eq!(b.open_remaining(), None);
    for _ in 0..5 {
        fail(&b).await.unwrap_err();
    }
    assert_eq!(b.open_remaining(), Some(config().open_for));
    tokio::time::advance(config().open_for).await;
    assert_eq!(b.open_remaining(), None, "the period is over");
    assert_eq!(b.state(), BreakerState::Open, "reading changed nothing");
    b.try_acquire().unwrap();
    assert_eq!(b.state(), BreakerState::HalfOpen);
    assert_eq!(b.open_remaining(), None);
}

/// Calls with every permit at once (each call stays at the payment system for a second, so
/// they overlap) and says how many reached it.
async fn calls_that_go_out_together(b: &Breaker, permits: Vec<Permit>) -> usize {
    let reached = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let calls: Vec<_> = permits
        .into_iter()
        .map(|permit| {
            let (b, reached) = (b.clone(), reached.clone());
            tokio::spawn(async move {
                let call = async move {
                    reached.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Result::<(), Err>::Ok(())
                };
                b.call(permit, is_failure, call).await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let together = reached.load(std::sync::atomic::Ordering::SeqCst);
    for call in calls {
        let _ = call.await;
    }
    together
}

#[tokio::test(start_paused = true)]
async fn probes_still_held_from_the_last_half_open_period_count_against_the_next_one() {
    let b = open_and_over().await;
    let mut earlier: Vec<Permit> = (0..3).map(|_| b.try_acquire().unwrap()).collect();
    // One probe fails and reopens it; the callers of the other two still hold their permits.
    let failing = earlier.pop().unwrap();
    b.call(failing, is_failure, async {
        Result::<(), Err>::Err(Err::Down)
    })
    .await
    .unwrap_err();
    assert_eq!(b.state(), BreakerState::Open);

    // The next half-open period: every permit it gives, with the two held ones, goes out.
    tokio::time::advance(Duration::from_secs(5)).await;
    let mut held = earlier;
    while let Ok(permit) = b.try_acquire() {
        held.push(permit);
        assert!(held.len() <= 10, "try_acquire never refuses");
    }
    let together = calls_that_go_out_together(&b, held).await;
    assert!(
        together <= 3,
        "{together} probes reached the payment system at once"
    );
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(b.snapshot().probes_in_flight, 0);
}
