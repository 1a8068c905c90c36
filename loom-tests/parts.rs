//! The two building blocks on their own: the channel (promises 1, 2, 4)
//! and the wait-group of live workers (promises 5, 8).
#![cfg(any(loom, shuttle))]

mod common;

use common::{check, thread, Arc, Bound, Scale};
use verified_pool::internals::{
    send_on_shard, shards_in_models, trace_lanes, Channel, Refusal, WaitGroup,
};

/// Promises 1, 2, 4: blocking senders on a capacity-1 channel, receivers,
/// and a close racing them. Every accepted item is received exactly once,
/// every refused one comes back, nobody hangs.
/// Mutants: B3-check-then-sleep, B4-exit-before-drain, B7-check-then-send.
/// loom: bound 3; 2 senders of 1 item, 1 receiver, main closing.
/// (Scale: `workers` receivers, `threads` senders of `tasks` items.)
#[test]
fn channel_send_recv_close_race() {
    let loom = Scale::new(1, 2, 1);
    check("channel_race", Bound::Preemptions(3), loom, |s| {
        let channel = Arc::new(Channel::new(Some(1)));
        let senders: Vec<_> = (0..s.threads)
            .map(|i| {
                let channel = channel.clone();
                thread::spawn(move || {
                    let mut sent = 0;
                    for n in 0..s.tasks {
                        let item = (i, n);
                        match channel.send(item, true) {
                            Ok(()) => sent += 1,
                            Err(back) => assert_eq!(back, (item, Refusal::Closed)),
                        }
                    }
                    sent
                })
            })
            .collect();
        let receivers = spawn_receivers(&channel, s.workers);
        channel.close();
        let sent: usize = senders.into_iter().map(|t| t.join().unwrap()).sum();
        let got: usize = receivers.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(got, sent);
        let snapshot = channel.snapshot();
        assert_eq!(snapshot.accepted, sent as u64);
        assert_eq!(snapshot.refused, (s.threads * s.tasks - sent) as u64);
    });
}

/// Promises 1, 4 with two inboxes, as an unbounded channel has in normal
/// builds: senders on different inboxes, a receiver, and a close racing
/// them. Every accepted item is received exactly once whichever inbox it
/// went to, and the receiver leaves only when both are empty.
/// Mutants: B3-one-inbox-looked-at, B4-exit-before-drain.
/// loom: bound 3; 2 senders of 1 item (one per inbox), 1 receiver, main
/// closing.
#[test]
fn channel_with_two_inboxes_send_recv_close_race() {
    let loom = Scale::new(1, 2, 1);
    shards_in_models(true);
    check("two_inboxes_race", Bound::Preemptions(3), loom, |s| {
        let channel = Arc::new(Channel::new(None));
        let senders: Vec<_> = (0..s.threads)
            .map(|i| {
                let channel = channel.clone();
                thread::spawn(move || {
                    send_on_shard(i);
                    (0..s.tasks)
                        .filter(|&n| match channel.send((i, n), false) {
                            Ok(()) => true,
                            Err(back) => {
                                assert_eq!(back, ((i, n), Refusal::Closed));
                                false
                            }
                        })
                        .count()
                })
            })
            .collect();
        let receivers = spawn_receivers(&channel, s.workers);
        channel.close();
        let sent: usize = senders.into_iter().map(|t| t.join().unwrap()).sum();
        let got: usize = receivers.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(got, sent);
        let snapshot = channel.snapshot();
        assert_eq!((snapshot.accepted, snapshot.queued), (sent as u64, 0));
        assert_eq!(snapshot.refused, (s.threads * s.tasks - sent) as u64);
    });
    shards_in_models(false);
}

/// `n` receivers that take items (reporting each finished with the next
/// take) until the channel is closed and empty; each returns its count.
fn spawn_receivers<T: Send + 'static>(
    channel: &Arc<Channel<T>>,
    n: usize,
) -> Vec<thread::JoinHandle<usize>> {
    (0..n)
        .map(|_| {
            let channel = channel.clone();
            thread::spawn(move || {
                let mut got = 0;
                while channel.recv(got > 0).is_some() {
                    got += 1;
                }
                got
            })
        })
        .collect()
}

/// Promises 5, 8 (B5): members leave while threads wait; the count never
/// goes below zero and every waiter wakes.
/// Mutants: B5-wait-group-notify-one.
/// loom: bound 3; 2 members, 1 waiter, main waiting too.
/// (Scale: `workers` members, `threads` waiters.)
#[test]
fn wait_group_wakes_every_waiter_at_zero() {
    let loom = Scale::new(2, 1, 0);
    check("wait_group", Bound::Preemptions(3), loom, |s| {
        let group = Arc::new(WaitGroup::new());
        for _ in 0..s.workers {
            group.add();
        }
        let members: Vec<_> = (0..s.workers)
            .map(|_| {
                let group = group.clone();
                thread::spawn(move || group.done())
            })
            .collect();
        let waiters: Vec<_> = (0..s.threads)
            .map(|_| {
                let group = group.clone();
                thread::spawn(move || group.wait())
            })
            .collect();
        group.wait();
        assert_eq!(group.count(), 0);
        for thread in waiters.into_iter().chain(members) {
            thread.join().unwrap();
        }
    });
}

/// Promise 4 (B9): senders blocked on a full capacity-1 channel are woken
/// by room alone (the channel is closed only after every send returned),
/// so a wakeup that goes to the wrong waiter is a deadlock.
/// Mutants: B9-shared-condvar-wrong-waiter (shuttle only: at loom's
/// scale there is one receiver, and loom wakes the oldest waiter).
/// loom: bound 3; 2 senders of 1 item, 1 receiver, main.
/// (Scale: `workers` receivers, `threads` senders of `tasks` items.)
#[test]
fn channel_backpressure_wakes_blocked_senders() {
    let loom = Scale::new(1, 2, 1);
    check("channel_backpressure", Bound::Preemptions(3), loom, |s| {
        let channel = Arc::new(Channel::new(Some(1)));
        let receivers = spawn_receivers(&channel, s.workers);
        let senders: Vec<_> = (0..s.threads)
            .map(|i| {
                let channel = channel.clone();
                thread::spawn(move || {
                    for n in 0..s.tasks {
                        channel.send((i, n), true).unwrap();
                    }
                })
            })
            .collect();
        for sender in senders {
            sender.join().unwrap();
        }
        channel.close();
        let got: usize = receivers.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(got, s.threads * s.tasks);
    });
}

/// Not a promise: the pool trace that `check` prints when a model fails.
/// Each event lands in the lane of the thread that caused it, in order,
/// and the diagram ends at the failure it is given.
/// loom: unbounded (exhaustive); 1 receiver, main sending and closing.
#[test]
fn trace_puts_each_event_in_its_thread_lane() {
    check("trace_lanes", Bound::Unbounded, Scale::new(1, 0, 1), |_| {
        let channel = Arc::new(Channel::new(None));
        let receiver = {
            let channel = channel.clone();
            thread::spawn(move || channel.recv(false))
        };
        channel.send(7, true).unwrap();
        channel.close();
        assert_eq!(receiver.join().unwrap(), Some(7));

        let lanes = trace_lanes("the model's own failure");
        // The lane (0: main, 1: the receiver) and row of the line showing `event`.
        let find = |event: &str| {
            let (row, line) = lanes
                .lines()
                .enumerate()
                .find(|(_, line)| line.contains(event))
                .unwrap_or_else(|| panic!("no {event:?} in\n{lanes}"));
            let lane = line[..line.find(event).unwrap()].matches('|').count() - 1;
            (lane, row)
        };
        let (pushed, closed) = (find("push: 1 queued"), find("CLOSE: "));
        assert_eq!((pushed.0, closed.0), (0, 0), "{lanes}");
        assert!(pushed.1 < closed.1, "{lanes}");
        assert_eq!(find("took task: 0 left").0, 1, "{lanes}");
        assert!(lanes.contains("| main "), "{lanes}");
        // Only this execution's events: the log is cleared as each one starts.
        assert_eq!(lanes.matches("push: ").count(), 1, "{lanes}");
        assert!(lanes.contains("PANIC: the model's own failure"), "{lanes}");
    });
}
