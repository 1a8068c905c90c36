//! The two building blocks on their own: the channel (promises 1, 2, 4)
//! and the wait-group of live workers (promises 5, 8).
#![cfg(loom)]

mod common;

use common::{check, Bound};
use loom::sync::Arc;
use loom::thread;
use verified_pool::internals::{Channel, Refusal, WaitGroup};

/// Promises 1, 2, 4: two blocking senders on a capacity-1 channel, a
/// receiver, and a close racing them. Every accepted item is received
/// exactly once, every refused one comes back, nobody hangs.
/// Mutants: B3-check-then-sleep, B4-exit-before-drain, B7-check-then-send.
/// Bound 3; 2 senders, a receiver, main closing.
#[test]
fn channel_send_recv_close_race() {
    check("channel_race", Bound::Preemptions(3), || {
        let channel = Arc::new(Channel::new(Some(1)));
        let senders: Vec<_> = (0..2u8)
            .map(|i| {
                let channel = channel.clone();
                thread::spawn(move || match channel.send(i, true) {
                    Ok(()) => 1,
                    Err((item, why)) => {
                        assert_eq!((item, why), (i, Refusal::Closed));
                        0
                    }
                })
            })
            .collect();
        let receiver = {
            let channel = channel.clone();
            thread::spawn(move || {
                let mut got = 0;
                while channel.recv(got > 0).is_some() {
                    got += 1;
                }
                got
            })
        };
        channel.close();
        let sent: usize = senders.into_iter().map(|s| s.join().unwrap()).sum();
        assert_eq!(receiver.join().unwrap(), sent);
        let snapshot = channel.snapshot();
        assert_eq!(snapshot.accepted, sent as u64);
        assert_eq!(snapshot.refused, 2 - sent as u64);
    });
}

/// Promises 5, 8 (B5): two members leave while two threads wait; the
/// count never goes below zero and both waiters wake.
/// Mutants: B5-wait-group-notify-one.
/// Bound 3; 2 members, a waiter, main waiting too.
#[test]
fn wait_group_wakes_every_waiter_at_zero() {
    check("wait_group", Bound::Preemptions(3), || {
        let group = Arc::new(WaitGroup::new());
        group.add();
        group.add();
        let members: Vec<_> = (0..2)
            .map(|_| {
                let group = group.clone();
                thread::spawn(move || group.done())
            })
            .collect();
        let waiter = {
            let group = group.clone();
            thread::spawn(move || group.wait())
        };
        group.wait();
        assert_eq!(group.count(), 0);
        waiter.join().unwrap();
        for member in members {
            member.join().unwrap();
        }
    });
}
