//! The host: activation, passivation under concurrent commands, the mailbox bound, and
//! commands that must not run (caller gone, past their start-by time, request abandoned),
//! unsure writes.

use super::*;

#[tokio::test]
async fn an_aggregate_loads_once_on_its_first_command_and_keeps_its_state_in_memory() {
    let toy = toy(limits(), Duration::from_secs(60)).await;
    toy.services.stored.lock().unwrap().insert(7, 40);
    assert_eq!(toy.add(7, 1).await, Ok(41));
    assert_eq!(toy.add(7, 1).await, Ok(42));
    assert_eq!(toy.services.loads(), 1);
    assert_eq!(
        toy.add(7, -100).await,
        Err(AggregateError::Domain(Negative)),
        "the domain's error reaches the caller as it is"
    );
}

#[tokio::test]
async fn concurrent_commands_during_passivation_all_run_once_in_order() {
    let toy = Arc::new(toy(limits(), Duration::from_millis(20)).await);
    for round in 0..5 {
        let adds: Vec<_> = (0..4)
            .map(|_| {
                let toy = toy.clone();
                tokio::spawn(async move { toy.add(1, 1).await })
            })
            .collect();
        for add in adds {
            assert!(add.await.unwrap().is_ok());
        }
        assert_eq!(toy.services.stored.lock().unwrap()[&1], 4 * (round + 1));
        // Idle past the timeout: the next round starts a new incarnation from the store.
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    assert!(
        toy.services.loads() >= 2,
        "idle aggregates were passivated and loaded again ({} loads)",
        toy.services.loads()
    );
}

#[tokio::test]
async fn a_full_mailbox_answers_busy_and_what_it_holds_still_runs() {
    let toy = toy(limits(), Duration::from_secs(60)).await;
    let (gate, held) = toy.hold(1);
    eventually(|| toy.services.runs() == 1).await;
    let queued: Vec<_> = (0..4)
        .map(|_| toy.send(1, |r| ToyCommand::Add(1, r), later()))
        .collect();
    assert_eq!(
        toy.add(1, 1).await,
        Err(AggregateError::Refused(Refusal::Busy))
    );
    gate.add_permits(1);
    assert_eq!(held.await, Some(0));
    for rx in queued {
        assert!(rx.await.unwrap().is_ok());
    }
    assert_eq!(toy.services.stored.lock().unwrap()[&1], 4);
}

#[tokio::test]
async fn a_command_whose_caller_has_gone_does_not_run() {
    let toy = toy(limits(), Duration::from_secs(60)).await;
    let (gate, held) = toy.hold(1);
    eventually(|| toy.services.runs() == 1).await;
    let gone = toy.send(1, |r| ToyCommand::Add(5, r), later());
    drop(gone);
    gate.add_permits(1);
    held.await;
    assert_eq!(toy.add(1, 1).await, Ok(1), "the abandoned +5 never ran");
}

#[tokio::test]
async fn a_command_still_queued_at_its_start_by_time_is_refused_without_running() {
    let toy = toy(limits(), Duration::from_secs(60)).await;
    let (gate, held) = toy.hold(1);
    eventually(|| toy.services.runs() == 1).await;
    let start_by = Start::by(Instant::now() + Duration::from_millis(20));
    let late = toy.send(1, |r| ToyCommand::Add(5, r), start_by);
    tokio::time::sleep(Duration::from_millis(40)).await;
    gate.add_permits(1);
    held.await;
    assert_eq!(
        late.await.unwrap(),
        Err(AggregateError::Refused(Refusal::Unavailable))
    );
    assert_eq!(toy.add(1, 1).await, Ok(1), "the late +5 never ran");
}

#[tokio::test]
async fn a_command_whose_request_was_abandoned_while_queued_is_refused_without_running() {
    let toy = toy(limits(), Duration::from_secs(60)).await;
    let (gate, held) = toy.hold(1);
    eventually(|| toy.services.runs() == 1).await;
    let fate = Fate::default();
    let start = fate.clone().scope(async { later() }).await;
    let queued = toy.send(1, |r| ToyCommand::Add(5, r), start);
    assert!(fate.abandon(), "nothing had started");
    gate.add_permits(1);
    held.await;
    assert_eq!(
        queued.await.unwrap(),
        Err(AggregateError::Refused(Refusal::Unavailable))
    );
    assert_eq!(toy.add(1, 1).await, Ok(1), "the abandoned +5 never ran");
}

#[tokio::test]
async fn a_request_whose_command_started_can_no_longer_be_abandoned() {
    let toy = toy(limits(), Duration::from_secs(60)).await;
    let fate = Fate::default();
    let (gate, held) = fate.clone().scope(async { toy.hold(1) }).await;
    eventually(|| toy.services.runs() == 1).await;
    assert!(!fate.abandon(), "its command is running");
    gate.add_permits(1);
    assert_eq!(held.await, Some(0));
}

#[tokio::test]
async fn an_unsure_write_reloads_the_state_without_counting_toward_quarantine() {
    let toy = toy(limits(), Duration::from_secs(60)).await;
    toy.add(1, 1).await.unwrap();
    for _ in 0..5 {
        let unsure = toy.call(1, ToyCommand::Unsure).await;
        assert_eq!(unsure, Err(AggregateError::Refused(Refusal::Internal)));
        // What the store holds now (the write may have landed after all).
        toy.services.stored.lock().unwrap().insert(1, 10);
        assert_eq!(toy.add(1, 1).await, Ok(11), "state reloaded from the store");
        toy.services.stored.lock().unwrap().insert(1, 1);
    }
    assert_eq!(toy.services.loads(), 6);
}
