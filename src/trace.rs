//! Pool-event traces, for reading a model checker's counterexample in the
//! pool's own terms. Model-checker builds only.
//!
//! Under `--cfg loom` or `--cfg shuttle`, the facade (each lock, condvar
//! wait, wakeup and notify) and the pool (each push, take, close, drain,
//! task run, worker exit) call `trace::event!`, one short line each. The
//! events of the execution in progress are kept in a log; when a model
//! fails, the test harness prints them with `internals::trace_lanes`: one
//! column per model thread, time flowing down, ending at the failure.
//!
//! In every other build `event!` expands to `()` (its arguments are not
//! even compiled) and the rest of this module does not exist: no code, no
//! data, no symbol.
//!
//! Recording adds nothing the checker can see: the log is a plain std
//! cell, never the checker's primitives, so the checker explores exactly
//! the executions it explores without it. loom and shuttle run all of an
//! execution's model threads on the test's one OS thread, so that one cell
//! sees them all, and models running in parallel tests keep separate logs.
//! The cell and the "which model thread is this" helper live in the facade
//! (`sync::TRACE`, `sync::current_thread`): this file names none of std's,
//! loom's or shuttle's threads or locks, so "only the facade names them"
//! stays true. The harness clears the log as each execution starts
//! (`internals::trace_clear`); under loom, whose thread ids belong to one
//! execution, a new execution also clears it on its own.

/// Records a pool event (a variant of `trace::Event`, named without its
/// path) under the model checkers; nothing at all otherwise.
#[cfg(any(loom, shuttle))]
macro_rules! event {
    ($variant:ident $($fields:tt)*) => {
        $crate::trace::record($crate::trace::Event::$variant $($fields)*)
    };
}

/// Records a pool event under the model checkers; nothing at all otherwise.
#[cfg(not(any(loom, shuttle)))]
macro_rules! event {
    ($($anything:tt)*) => {
        ()
    };
}

pub(crate) use event;

#[cfg(any(loom, shuttle))]
pub(crate) use recorder::*;

#[cfg(any(loom, shuttle))]
mod recorder {
    use std::collections::VecDeque;
    use std::fmt::{self, Write as _};
    use std::panic::Location;

    use crate::sync::{self, ThreadKey};

    /// How many events the log keeps (the oldest go first).
    const KEEP: usize = 1_000;
    /// How many events `lanes` shows: the last ones, ending at the failure.
    const SHOWN: usize = 60;
    /// The width of a lane, in characters.
    const WIDTH: usize = 22;

    /// One thing a model thread did, in the pool's terms. Copy, with no
    /// heap data: recording must stay cheap, formatting waits for a failure.
    #[derive(Clone, Copy, Debug)]
    pub(crate) enum Event {
        // The facade: every lock, wait, wakeup and notify of the pool.
        /// Went for a lock (shown only if another thread ran before this
        /// one's next event: it waited for the lock or was preempted there).
        Lock(&'static str),
        /// Released the lock and slept on a condvar.
        Wait(&'static str),
        /// Woke from a condvar wait, holding the lock again.
        Woke(&'static str),
        NotifyOne(&'static str),
        NotifyAll(&'static str),
        // The channel: what happened to the queue, under its lock.
        Pushed { queued: usize },
        SendFull,
        RefusedClosed,
        RefusedFull,
        Took { left: usize },
        RecvEmpty,
        RecvClosed { queued: usize },
        Finished,
        Close { queued: usize },
        Drain { handed_back: usize },
        // The wait-group of live workers.
        Live { left: usize },
        // A worker's life.
        WorkerStart,
        RunTask,
        WorkerExit,
    }

    impl fmt::Display for Event {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match *self {
                Event::Lock(what) => write!(f, "lock {what}"),
                Event::Wait(on) => write!(f, "wait({on}) zz"),
                Event::Woke(on) => write!(f, "woke({on})"),
                Event::NotifyOne(on) => write!(f, "notify_one({on})"),
                Event::NotifyAll(on) => write!(f, "notify_all({on})"),
                Event::Pushed { queued } => write!(f, "push: {queued} queued"),
                Event::SendFull => f.write_str("send: queue full"),
                Event::RefusedClosed => f.write_str("send refused: closed"),
                Event::RefusedFull => f.write_str("send refused: full"),
                Event::Took { left } => write!(f, "took task: {left} left"),
                Event::RecvEmpty => f.write_str("recv: queue empty"),
                Event::RecvClosed { queued: 0 } => f.write_str("recv: closed & empty"),
                Event::RecvClosed { queued } => write!(f, "recv: closed, {queued} left"),
                Event::Finished => f.write_str("task finished"),
                Event::Close { queued } => write!(f, "CLOSE: {queued} queued"),
                Event::Drain { handed_back } => write!(f, "DRAIN: {handed_back} handed back"),
                Event::Live { left } => write!(f, "live workers: {left}"),
                Event::WorkerStart => f.write_str("worker starts"),
                Event::RunTask => f.write_str("runs task"),
                Event::WorkerExit => f.write_str("worker exits"),
            }
        }
    }

    /// The name of a lock or condvar that was not given one: the pool's
    /// files each hold one kind (the channel names its two locks and three
    /// condvars).
    pub(crate) fn named_by(site: &'static Location<'static>) -> &'static str {
        let file = site.file().rsplit(['/', '\\']).next().unwrap_or("");
        match file {
            "wait_group.rs" => "live",
            "pool.rs" => "threads",
            "task.rs" => "result",
            _ => "lock",
        }
    }

    /// A model thread seen in this execution.
    struct Lane {
        id: ThreadKey,
        /// The checker's index of the thread (0 is main).
        index: usize,
        label: String,
    }

    /// The log of the execution in progress.
    pub(crate) struct Log {
        lanes: Vec<Lane>,
        /// (position in `lanes`, event), oldest first.
        events: VecDeque<(usize, Event)>,
        /// Events of this execution pushed out of `events`.
        dropped: usize,
    }

    impl Log {
        pub(crate) const fn new() -> Self {
            Log {
                lanes: Vec::new(),
                events: VecDeque::new(),
                dropped: 0,
            }
        }

        fn clear(&mut self) {
            self.lanes.clear();
            self.events.clear();
            self.dropped = 0;
        }

        fn push(&mut self, id: ThreadKey, event: Event) {
            let lane = match self.lanes.iter().position(|lane| lane.id == id) {
                Some(lane) => lane,
                None => {
                    let (index, name) = sync::describe_current_thread();
                    if sync::THREAD_IDS_NAME_THE_EXECUTION
                        && self.lanes.iter().any(|lane| lane.index == index)
                    {
                        // The same thread of another execution: a new one began.
                        self.clear();
                    }
                    let label = match name {
                        Some(name) if name != sync::MAIN_THREAD_NAME => name,
                        _ if index == 0 => "main".to_owned(),
                        _ => format!("thread-{index}"),
                    };
                    self.lanes.push(Lane { id, index, label });
                    self.lanes.len() - 1
                }
            };
            if self.events.len() == KEEP {
                self.events.pop_front();
                self.dropped += 1;
            }
            self.events.push_back((lane, event));
        }
    }

    /// Appends `event`, by the running model thread, to the log.
    pub(crate) fn record(event: Event) {
        let Some(me) = sync::current_thread() else {
            return;
        };
        sync::TRACE.with(|log| {
            if let Ok(mut log) = log.try_borrow_mut() {
                log.push(me, event);
            }
        });
    }

    /// Forgets the log: called as each execution starts.
    pub(crate) fn clear() {
        sync::TRACE.with(|log| {
            if let Ok(mut log) = log.try_borrow_mut() {
                log.clear();
            }
        });
    }

    /// The log of the last execution as lanes, ending with `failure` (the
    /// panic message that ended it; loom's and shuttle's deadlock reports
    /// are recognised, and each lane then says where its thread is stuck).
    pub(crate) fn lanes(failure: &str) -> String {
        sync::TRACE.with(|log| match log.try_borrow() {
            Ok(log) => render(&log, failure),
            Err(_) => String::from("(pool trace unavailable: the log was in use)\n"),
        })
    }

    fn render(log: &Log, failure: &str) -> String {
        // Columns in the checker's thread order: main, the workers, the rest.
        let mut order: Vec<usize> = (0..log.lanes.len()).collect();
        order.sort_by_key(|&lane| log.lanes[lane].index);
        let mut column = vec![0; log.lanes.len()];
        for (col, &lane) in order.iter().enumerate() {
            column[lane] = col;
        }

        // A lock that its thread got without anyone running in between is
        // noise; one where another thread ran first is where it waited.
        let rows: Vec<(usize, Event)> = log
            .events
            .iter()
            .enumerate()
            .filter(|&(at, (lane, event))| {
                !matches!(event, Event::Lock(_))
                    || log.events.get(at + 1).is_none_or(|(next, _)| next != lane)
            })
            .map(|(_, &row)| row)
            .collect();
        let hidden = rows.len().saturating_sub(SHOWN);

        let mut out = String::new();
        let _ = writeln!(
            out,
            "\n=== pool trace of the failing execution: one column per thread, time flows down ===\n\
             (zz: asleep in a condvar wait, until a notify on that condvar wakes it)"
        );
        if hidden + log.dropped > 0 {
            let _ = writeln!(out, "({} earlier events not shown)", hidden + log.dropped);
        }
        let row = |out: &mut String, step: &str, cells: &[String]| {
            let mut line = format!("{step:>4} ");
            for cell in cells {
                let _ = write!(line, "| {cell:<WIDTH$} ");
            }
            let _ = writeln!(out, "{}", line.trim_end());
        };
        let labels: Vec<String> = order
            .iter()
            .map(|&lane| fit(&log.lanes[lane].label))
            .collect();
        row(&mut out, "", &labels);
        let rule = format!("-----{}", format!("+{}", "-".repeat(WIDTH + 2)).repeat(order.len()));
        let _ = writeln!(out, "{rule}");
        let mut asleep = vec![false; log.lanes.len()];
        for (step, &(lane, event)) in rows.iter().enumerate() {
            if let Event::Woke(_) = event {
                asleep[lane] = false;
            }
            if step >= hidden {
                let cells: Vec<String> = order
                    .iter()
                    .map(|&other| match other {
                        _ if other == lane => fit(&event.to_string()),
                        _ if asleep[other] => "  zz".to_owned(),
                        _ => String::new(),
                    })
                    .collect();
                row(&mut out, &(log.dropped + step + 1).to_string(), &cells);
            }
            if let Event::Wait(_) = event {
                asleep[lane] = true;
            }
        }
        let _ = writeln!(out, "{rule}");

        if failure.starts_with("deadlock") {
            let cells: Vec<String> = order
                .iter()
                .map(|&lane| fit(&stuck(log, lane, failure)))
                .collect();
            row(&mut out, "END", &cells);
            let _ = writeln!(
                out,
                "DEADLOCK: no thread can move; each STUCK one waits for a notify that will not come."
            );
        } else {
            let mut lines = failure.lines().take(8);
            let _ = writeln!(out, " END  PANIC: {}", lines.next().unwrap_or(""));
            for line in lines {
                let _ = writeln!(out, "      {line}");
            }
        }
        let _ = writeln!(out, "=== end of the pool trace ===");
        out
    }

    /// Where the thread of `lane` is at the end of a deadlocked execution.
    fn stuck(log: &Log, lane: usize, failure: &str) -> String {
        let last = log
            .events
            .iter()
            .rev()
            .find(|(at, _)| *at == lane)
            .map(|(_, event)| *event);
        let state = checker_state(failure, log.lanes[lane].index);
        match (state, last) {
            (Some(State::Finished), _) | (_, Some(Event::WorkerExit)) => "(finished)".into(),
            (_, Some(Event::Wait(on))) => format!("STUCK in wait({on})"),
            (_, Some(Event::Lock(what))) => format!("STUCK on lock {what}"),
            (Some(State::Blocked), Some(Event::RunTask)) => "STUCK in its task".into(),
            (Some(State::Blocked), _) => "STUCK outside the pool".into(),
            _ => "?".into(),
        }
    }

    enum State {
        Blocked,
        Finished,
    }

    /// What the checker's deadlock report says of thread `index`: loom
    /// lists every thread, `(Id(n), Blocked(..))` or `(Id(n), Terminated)`;
    /// shuttle lists the blocked ones, `blocked tasks: [.. (task <id>(n)), ..]`.
    fn checker_state(failure: &str, index: usize) -> Option<State> {
        if let Some(at) = failure.find(&format!("(Id({index}), ")) {
            let state = &failure[at..].split_once(", ")?.1;
            return if state.starts_with("Blocked") {
                Some(State::Blocked)
            } else if state.starts_with("Terminated") {
                Some(State::Finished)
            } else {
                None
            };
        }
        let (_, blocked) = failure.split_once("blocked tasks:")?;
        if blocked.contains(&format!("({index}))")) {
            Some(State::Blocked)
        } else {
            Some(State::Finished)
        }
    }

    /// `text` cut to a lane's width.
    fn fit(text: &str) -> String {
        if text.chars().count() <= WIDTH {
            text.to_owned()
        } else {
            let mut cut: String = text.chars().take(WIDTH - 1).collect();
            cut.push('~');
            cut
        }
    }
}
