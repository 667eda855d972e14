//! Locks: contention, `locked` after waiting, `steal` and `stolen`.

use neutrino_ovsdb::{Client, LockEvent, Operation, OvsdbError};
use tokio::sync::broadcast;

use crate::harness::{test_options, Server, NB, WAIT};

pub async fn next_lock_event(rx: &mut broadcast::Receiver<LockEvent>) -> LockEvent {
    tokio::time::timeout(WAIT, rx.recv()).await.expect("a lock event in time").expect("open")
}

async fn assert_owner(client: &Client, lock: &str) -> Result<(), OvsdbError> {
    client.transact(NB, vec![Operation::assert_lock(lock)]).await.map(drop)
}

#[tokio::test]
async fn second_client_waits_for_the_lock_and_gets_it_when_the_first_unlocks() {
    let Some(server) = Server::standalone() else { return };
    let first = Client::connect(&server.remote(), test_options()).await.unwrap();
    let second = Client::connect(&server.remote(), test_options()).await.unwrap();
    let mut first_events = first.lock_events();
    let mut second_events = second.lock_events();

    assert!(first.lock("maint").await.unwrap());
    assert_eq!(
        next_lock_event(&mut first_events).await,
        LockEvent::Locked { name: "maint".into() }
    );
    assert!(first.has_lock("maint"));
    assert!(!second.lock("maint").await.unwrap(), "the lock is held by the first client");
    assert!(!second.has_lock("maint"));
    assert_eq!(assert_owner(&second, "maint").await.unwrap_err().server_error(), Some("not owner"));

    first.unlock("maint").await.unwrap();
    assert!(!first.has_lock("maint"));
    assert_eq!(
        next_lock_event(&mut second_events).await,
        LockEvent::Locked { name: "maint".into() }
    );
    assert!(second.has_lock("maint"));
    assert_owner(&second, "maint").await.unwrap();
}

#[tokio::test]
async fn steal_takes_the_lock_and_the_previous_holder_is_told_it_was_stolen() {
    let Some(server) = Server::standalone() else { return };
    let holder = Client::connect(&server.remote(), test_options()).await.unwrap();
    let thief = Client::connect(&server.remote(), test_options()).await.unwrap();
    let mut holder_events = holder.lock_events();
    let mut thief_events = thief.lock_events();

    assert!(holder.lock("maint").await.unwrap());
    assert_eq!(
        next_lock_event(&mut holder_events).await,
        LockEvent::Locked { name: "maint".into() }
    );
    thief.steal("maint").await.unwrap();
    assert_eq!(
        next_lock_event(&mut thief_events).await,
        LockEvent::Locked { name: "maint".into() }
    );
    assert_eq!(
        next_lock_event(&mut holder_events).await,
        LockEvent::Stolen { name: "maint".into() }
    );
    assert!(thief.has_lock("maint"));
    assert!(!holder.has_lock("maint"));
    assert_owner(&thief, "maint").await.unwrap();
    assert_eq!(assert_owner(&holder, "maint").await.unwrap_err().server_error(), Some("not owner"));

    // The victim stays queued: releasing the lock hands it back.
    thief.unlock("maint").await.unwrap();
    assert_eq!(
        next_lock_event(&mut holder_events).await,
        LockEvent::Locked { name: "maint".into() }
    );
    assert!(holder.has_lock("maint"));
    assert_owner(&holder, "maint").await.unwrap();
}

#[tokio::test]
async fn a_client_whose_lock_was_stolen_can_steal_it_back() {
    let Some(server) = Server::standalone() else { return };
    let a = Client::connect(&server.remote(), test_options()).await.unwrap();
    let b = Client::connect(&server.remote(), test_options()).await.unwrap();
    let mut a_events = a.lock_events();
    assert!(a.lock("maint").await.unwrap());
    assert!(a.lock("maint").await.unwrap(), "asking again reports the held lock");
    b.steal("maint").await.unwrap();
    assert_eq!(next_lock_event(&mut a_events).await, LockEvent::Locked { name: "maint".into() });
    assert_eq!(next_lock_event(&mut a_events).await, LockEvent::Stolen { name: "maint".into() });
    assert!(!a.lock("maint").await.unwrap(), "still queued behind the thief");
    a.steal("maint").await.unwrap();
    assert!(a.has_lock("maint"));
    assert_owner(&a, "maint").await.unwrap();
    a.unlock("maint").await.unwrap();
    assert!(!a.has_lock("maint"));
}
