#!/usr/bin/env python3
"""Writes the mutant patches B<n>-<name>.patch (catalogue bugs) and
P<n>-<name>.patch (promises the catalogue has no bug for) from the table below.

Each mutant is the Rust shape of one catalogue bug (../../../shared/CONTRACT.md,
B1-B10): a small edit of src/ that the loom suite must catch. The table is
the source of truth; the patches are what `check` applies. Rerun this after
changing src/ (it fails loudly if an edit no longer applies);
`regenerate.py --check`, which `check` runs first, fails if a patch on
disk differs from what the table makes of the current src/.
"""
import difflib
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = pathlib.Path(__file__).resolve().parent

# name: (bug and why, [(file, old, new), ...])
# CAUGHT_BY below names the models that must each fail on the mutant;
# "shuttle:" marks a model run under --cfg shuttle instead of loom.
MUTANTS = {
    "B1-empty-slot": (
        "The worker registry is made with N empty slots and then appended to, "
        "so join walks N empty slots first (the Go pool's nil slot).",
        [
            ("src/pool.rs", "    threads: Mutex<Vec<JoinHandle>>,\n}",
             "    threads: Mutex<Vec<Option<JoinHandle>>>,\n}"),
            ("src/pool.rs", "        let mut threads = Vec::new();",
             "        let mut threads: Vec<Option<JoinHandle>> = (0..workers).map(|_| None).collect();"),
            ("src/pool.rs", "                Ok(thread) => threads.push(thread),",
             "                Ok(thread) => threads.push(Some(thread)),"),
            ("src/pool.rs", "            if let Err(payload) = thread.join() {",
             "            if let Err(payload) = thread.expect(\"worker slot is empty\").join() {"),
        ],
    ),
    "B2-close-twice-panics": (
        "Closing asserts the channel is still open, like closing a closed Go "
        "channel: the second shutdown/stop/join panics.",
        [
            ("src/channel.rs", "        let mut all = self.lock_inboxes();\n        if all.gate() == Gate::Open {\n            all.set_gate(Gate::Closed);",
             "        let mut all = self.lock_inboxes();\n        assert_eq!(all.gate(), Gate::Open, \"channel closed twice\");\n        {\n            all.set_gate(Gate::Closed);"),
        ],
    ),
    "B3-check-then-sleep": (
        "A worker sees the queue empty, lets go of the lock, and then waits "
        "without checking again: a task sent in between is never noticed.",
        [
            ("src/channel.rs", "            self.count_sleeping_receiver(&mut all);\n            drop(all);\n            backoff.parking();\n            o = self.items.wait(o);",
             "            drop(all);\n            drop(o);\n            o = self.outbox.lock();\n            self.count_sleeping_receiver(&mut self.lock_inboxes());\n            backoff.parking();\n            o = self.items.wait(o);"),
        ],
    ),
    "B3-spin-then-sleep-unchecked": (
        "A worker that found the queue empty backs off, takes the lock "
        "again and goes to sleep without looking again: a task pushed while "
        "it spun (no one slept, so no one was notified) is never noticed.",
        [
            ("src/channel.rs", "                o = self.outbox.lock();\n                continue;\n            }\n            trace::event!(RecvEmpty);",
             "                o = self.outbox.lock();\n                all = self.lock_inboxes();\n            }\n            trace::event!(RecvEmpty);"),
        ],
    ),
    "B3-notify-before-wait": (
        "A sender (or close) that owes a sleeping worker a wake-up notifies "
        "without first taking the worker's lock (the outbox): the worker has counted "
        "itself asleep but is not yet waiting, the notify finds no one, and "
        "the worker then sleeps with a task queued.",
        [
            ("src/channel.rs", "        drop(self.outbox.lock());\n        if all {",
             "        if all {"),
        ],
    ),
    "B3-one-inbox-looked-at": (
        "A worker with an empty outbox looks in the first inbox only: a task "
        "sent to another inbox is never taken, and the worker sleeps (or, "
        "once the pool is closed, exits) with it queued.",
        [
            ("src/channel.rs", "            let k = (o.shard + step) % self.shards;",
             "            let k = (o.shard + step) % self.shards * 0;"),
        ],
    ),
    "B3-count-read-before-push": (
        "With more than one inbox, a sender reads the count of sleeping "
        "workers before it takes its inbox lock: a worker that finds every "
        "inbox empty and counts itself asleep in between is owed a wake-up "
        "the sender never sees.",
        [
            ("src/channel.rs", "        let mut i = self.inboxes[shard].lock();\n        loop {",
             "        let owed = self.shards == 1 || self.sleeping_receivers.load(Ordering::Relaxed) > 0;\n        let mut i = self.inboxes[shard].lock();\n        loop {"),
            ("src/channel.rs", "        let wake = self.take_sleeping_receiver(&mut i);",
             "        let wake = owed && self.take_sleeping_receiver(&mut i);"),
        ],
    ),
    "B3-quiet-never-notified": (
        "The last task to finish does not wake idle waiters: wait_idle() "
        "sleeps through the moment the pool went idle.",
        [
            ("src/channel.rs", "        o.taken -= 1;\n        if o.sleeping_quiet > 0 && self.is_quiet(o) {\n            self.quiet.notify_all();\n        }",
             "        o.taken -= 1;"),
        ],
    ),
    "B4-exit-before-drain": (
        "A worker exits as soon as the pool is closed, before draining the "
        "queue: accepted tasks are dropped at shutdown.",
        [
            ("src/channel.rs", "        let item = loop {\n            if let Some(item) = o.items.pop_front() {",
             "        let item = loop {\n            let all = self.lock_inboxes();\n            if all.gate() != Gate::Open {\n                trace::event!(RecvClosed { queued: o.items.len() + all.len() });\n                return None;\n            }\n            drop(all);\n            if let Some(item) = o.items.pop_front() {"),
        ],
    ),
    "B4-stop-forgets-queued": (
        "stop() empties the queue but hands back nothing: the queued tasks "
        "vanish without running or being cancelled.",
        [
            ("src/channel.rs", "        let mut items = std::mem::take(&mut o.items);\n        for i in all.iter_mut() {\n            o.left_inbox += i.len() as u64;\n            items.extend(i.first.take());\n            items.append(&mut i.rest);\n        }",
             "        std::mem::forget(std::mem::take(&mut o.items));\n        for i in all.iter_mut() {\n            o.left_inbox += i.len() as u64;\n            std::mem::forget(i.first.take());\n            std::mem::forget(std::mem::take(&mut i.rest));\n        }\n        let items = VecDeque::new();"),
        ],
    ),
    "B5-add-twice": (
        "The wait-group is counted up front for all workers (Add(n)) and "
        "again per spawned worker: it never reaches zero, join hangs.",
        [
            ("src/pool.rs", "        let mut threads = Vec::new();\n",
             "        let mut threads = Vec::new();\n        for _ in 0..workers {\n            shared.live.add();\n        }\n"),
        ],
    ),
    "B5-done-twice": (
        "A worker counts itself out on the loop's exit and again in its exit "
        "guard: the wait-group goes below zero.",
        [
            ("src/pool.rs", "            shared.spent.leave(&mut spent);\n        }\n    }\n}",
             "            shared.spent.leave(&mut spent);\n        }\n    }\n    shared.live.done();\n}"),
        ],
    ),
    "B5-wait-group-notify-one": (
        "Reaching zero wakes one waiter instead of all: a second waiter of "
        "the wait-group sleeps forever.",
        [
            ("src/wait_group.rs", "            self.zero.notify_all();", "            self.zero.notify_one();"),
        ],
    ),
    "B5-quiet-notify-one": (
        "Going idle wakes one wait_idle() caller instead of all.",
        [
            ("src/channel.rs", "        if o.sleeping_quiet > 0 && self.is_quiet(o) {\n            self.quiet.notify_all();",
             "        if o.sleeping_quiet > 0 && self.is_quiet(o) {\n            self.quiet.notify_one();"),
        ],
    ),
    "B6-submit-panic-escapes": (
        "A submit task runs without catch_unwind: its panic unwinds the "
        "worker's job before the result is stored, and the handle never "
        "receives the payload (its join waits forever).",
        [
            ("src/task.rs", "        let outcome = catch_unwind(AssertUnwindSafe(f));",
             "        let outcome: Result<T, Payload> = Ok(f());"),
        ],
    ),
    "B6-execute-panic-lost": (
        "An execute task's panic is swallowed: never counted, never given to "
        "the panic handler.",
        [
            ("src/task.rs", "    let outcome = catch_unwind(AssertUnwindSafe(f));\n    if let Some(counters) = counters {\n        counters.record(outcome.is_err());\n    }\n    outcome.err()",
             "    let _ = catch_unwind(AssertUnwindSafe(f));\n    let _ = counters;\n    None"),
        ],
    ),
    "B6-worker-exits-on-panic": (
        "A worker reports the panic and then quits: the pool silently loses "
        "capacity, and with one worker the queue is never served again.",
        [
            ("src/pool.rs", "            Ok(Some(payload)) => shared.handler.handle(payload),",
             "            Ok(Some(payload)) => {\n                shared.handler.handle(payload);\n                break;\n            }"),
        ],
    ),
    "B6-handler-panic-escapes": (
        "The panic handler is called without containment: a panicking "
        "handler kills the worker thread.",
        [
            ("src/task.rs", "                if let Err(again) = catch_unwind(AssertUnwindSafe(|| handler(payload))) {\n                    drop_contained(again);\n                }",
             "                handler(payload);"),
        ],
    ),
    "B7-check-then-send": (
        "submit checks 'still open' under one lock acquisition and queues "
        "under another: a shutdown in between leaves a task queued after the "
        "workers have drained and exited.",
        [
            ("src/channel.rs", "            i.sleeping_senders -= 1;\n        }\n        i.push(item);",
             "            i.sleeping_senders -= 1;\n        }\n        drop(i);\n        let mut i = self.inboxes[shard].lock();\n        i.push(item);"),
        ],
    ),
    "B7-drop-after-close": (
        "A send after close reports success and drops the task silently.",
        [
            ("src/channel.rs", "            if i.gate != Gate::Open {\n                i.refused += 1;\n                trace::event!(RefusedClosed);\n                return Err((item, Refusal::Closed));",
             "            if i.gate != Gate::Open {\n                drop(i);\n                self.outbox.lock().left_inbox += 1;\n                drop(item);\n                return Ok(());"),
        ],
    ),
    "B8-close-forgets-sleeping-workers": (
        "Shutdown closes the queue without waking the workers asleep on it: "
        "they wait forever and join never returns.",
        [
            ("src/channel.rs", "        if receivers {\n            self.wake_counted_receivers(true);\n        }\n", ""),
        ],
    ),
    "B8-join-returns-early": (
        "join() shuts down and returns without waiting for the workers: "
        "threads of the pool outlive it.",
        [
            ("src/pool.rs", "        let mut threads = self.threads.lock();\n        self.shared.live.wait();",
             "        let mut threads = self.threads.lock();\n        threads.clear();"),
        ],
    ),
    "B9-close-forgets-blocked-submitters": (
        "Shutdown does not wake submitters blocked on a full queue: they stay "
        "blocked after the pool refuses work.",
        [
            ("src/channel.rs", "        if all.iter().any(|i| i.sleeping_senders > 0) {\n            self.room.notify_all();\n        }\n", ""),
        ],
    ),
    "B9-shared-condvar-wrong-waiter": (
        "Workers and blocked submitters share one condvar and notify_one: "
        "freeing room can wake another idle worker instead of the blocked "
        "submitter, which then sleeps with room in the queue. loom's "
        "notify_one always wakes the oldest waiter and its 5-thread limit "
        "keeps the bounded-channel model to one receiver, so only shuttle, "
        "which picks the waiter and runs 4 receivers, catches this one.",
        [
            ("src/channel.rs", "            i = self.room.wait(i);", "            i = self.items.wait(i);"),
            ("src/channel.rs", "                    self.room.notify_one();", "                    self.items.notify_one();"),
            ("src/channel.rs", "            self.room.notify_all();", "            self.items.notify_all();"),
        ],
    ),
    "P9-zero-workers-accepted": (
        "Promise 9: a pool of zero workers is built without complaint; every "
        "task given to it would wait forever.",
        [
            ("src/builder.rs", "        if workers == 0 {\n            return Err(BuildError::ZeroWorkers);\n        }\n", ""),
        ],
    ),
    "P9-failed-spawn-not-counted-out": (
        "Promise 9 (and B5): a worker that fails to spawn is never counted "
        "out of the wait-group, so cleaning up the half-built pool waits "
        "forever for it.",
        [
            ("src/pool.rs", "                    shared.live.done();\n                    drop(Pool {", "                    drop(Pool {"),
        ],
    ),
    "B10-self-join": (
        "join()/wait_idle() do not recognise the pool's own worker: a task "
        "waiting for its pool (or dropping the last Arc<Pool>) waits for itself.",
        [
            ("src/pool.rs", "        if WORKER_OF.with(Cell::get) == self.shared.id() {",
             "        if WORKER_OF.with(Cell::get) == usize::MAX && self.shared.id() == 0 {"),
        ],
    ),
}


CAUGHT_BY = {
    "B1-empty-slot": [
        "loom_join::join_racing_submit_waits_for_accepted_work",
        "loom_join::many_joiners_all_return_after_the_workers_exit",
    ],
    "B2-close-twice-panics": [
        "loom_close::closing_twice_from_two_threads_is_harmless",
    ],
    "B3-check-then-sleep": [
        "loom_wakeup::idle_worker_takes_tasks_from_either_inbox",
        "loom_wakeup::backing_off_workers_still_take_every_task",
        "loom_wakeup::worker_finishing_as_a_submit_arrives_takes_it",
        "loom_wakeup::idle_workers_take_tasks_from_two_submitters",
        "loom_parts::channel_send_recv_close_race",
    ],
    "B3-spin-then-sleep-unchecked": [
        "loom_wakeup::backing_off_workers_still_take_every_task",
    ],
    "B3-notify-before-wait": [
        "loom_wakeup::idle_workers_take_tasks_from_two_submitters",
    ],
    "B3-one-inbox-looked-at": [
        "loom_wakeup::idle_worker_takes_tasks_from_either_inbox",
        "loom_parts::channel_with_two_inboxes_send_recv_close_race",
    ],
    "B3-count-read-before-push": [
        "loom_wakeup::idle_worker_takes_tasks_from_either_inbox",
    ],
    "B3-quiet-never-notified": [
        "loom_wakeup::idle_waiters_all_wake_across_waves",
    ],
    "B4-exit-before-drain": [
        "loom_close::submit_racing_shutdown_runs_or_returns_the_task",
        "loom_join::join_racing_submit_waits_for_accepted_work",
        "loom_parts::channel_send_recv_close_race",
        "loom_parts::channel_with_two_inboxes_send_recv_close_race",
    ],
    "B4-stop-forgets-queued": [
        "loom_close::stop_racing_running_and_queued_tasks_hands_back_each_once",
    ],
    "B5-add-twice": [
        "loom_join::many_joiners_all_return_after_the_workers_exit",
    ],
    "B5-done-twice": [
        "loom_join::many_joiners_all_return_after_the_workers_exit",
    ],
    "B5-wait-group-notify-one": [
        "loom_parts::wait_group_wakes_every_waiter_at_zero",
    ],
    "B5-quiet-notify-one": [
        "loom_wakeup::idle_waiters_all_wake_across_waves",
    ],
    "B6-submit-panic-escapes": [
        "loom_panics::task_panicking_during_shutdown_is_contained",
    ],
    "B6-execute-panic-lost": [
        "loom_panics::task_panicking_during_shutdown_is_contained",
    ],
    "B6-worker-exits-on-panic": [
        "loom_panics::task_panicking_during_shutdown_is_contained",
    ],
    "B6-handler-panic-escapes": [
        "loom_panics::panicking_panic_handler_is_contained",
    ],
    "B7-check-then-send": [
        "loom_close::submit_racing_shutdown_runs_or_returns_the_task",
        "loom_parts::channel_send_recv_close_race",
    ],
    "B7-drop-after-close": [
        "loom_close::submit_racing_shutdown_runs_or_returns_the_task",
    ],
    "B8-close-forgets-sleeping-workers": [
        "loom_close::closing_twice_from_two_threads_is_harmless",
    ],
    "B8-join-returns-early": [
        "loom_join::many_joiners_all_return_after_the_workers_exit",
        "loom_join::join_racing_submit_waits_for_accepted_work",
    ],
    "B9-close-forgets-blocked-submitters": [
        "loom_wakeup::blocked_submitter_wakes_at_shutdown",
    ],
    "B9-shared-condvar-wrong-waiter": [
        "shuttle:loom_parts::channel_backpressure_wakes_blocked_senders",
    ],
    "P9-zero-workers-accepted": [
        "loom_build::bad_input_is_a_build_error_with_no_thread_left",
    ],
    "P9-failed-spawn-not-counted-out": [
        "loom_build::bad_input_is_a_build_error_with_no_thread_left",
    ],
    "B10-self-join": [
        "loom_join::waiting_from_own_worker_is_refused",
        "loom_join::last_pool_dropped_on_its_own_worker_does_not_deadlock",
    ],
}


def patches():
    """Every mutant's patch text against the current src/, by name."""
    out = {}
    for name, (why, edits) in MUTANTS.items():
        files = {}
        for path, old, new in edits:
            text = files.setdefault(path, (ROOT / path).read_text())
            if text.count(old) != 1:
                sys.exit(f"{name}: the edit for {path} no longer applies:\n{old}")
            files[path] = text.replace(old, new)
        diff = []
        for path, text in files.items():
            before = (ROOT / path).read_text().splitlines(keepends=True)
            diff += difflib.unified_diff(before, text.splitlines(keepends=True),
                                         f"a/{path}", f"b/{path}")
        header = f"Mutant {name}: {why}\n\n" + "".join(
            f"Caught by: {model}\n" for model in CAUGHT_BY[name]) + "\n"
        out[name] = header + "".join(diff)
    return out


def main():
    fresh = patches()
    if sys.argv[1:] == ["--check"]:
        # A stale patch can still apply, with an offset, somewhere else
        # that looks alike, and then test a different bug (or none).
        on_disk = {p.stem: p.read_text() for p in HERE.glob("*.patch")}
        stale = sorted(n for n in fresh.keys() | on_disk.keys()
                       if fresh.get(n) != on_disk.get(n))
        if stale:
            sys.exit("stale mutant patches (rerun loom-tests/mutants/regenerate.py): "
                     + ", ".join(stale))
        print(f"all {len(fresh)} mutant patches match src/")
        return
    for old in HERE.glob("*.patch"):
        old.unlink()
    for name, text in fresh.items():
        (HERE / f"{name}.patch").write_text(text)
        print(f"wrote {name}.patch")


if __name__ == "__main__":
    main()
