//! Any builder settings give an error or a working pool (promise 9).

use std::error::Error as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};

use crate::{BuildError, Pool, State, TaskError};

use super::lab::Lab;
use super::model::{TaskKind, Via};
use super::program::from_fuzz_input;
use super::{ensure, violation, DeliberatePanic, Violation};

/// The most workers a [`BuildConfig`] asks for.
///
/// ```
/// use verified_pool::conformance::{BuildConfig, MAX_BUILD_WORKERS};
///
/// for byte in [0x07, 0x55, 0xff] {
///     let config = BuildConfig::from_fuzz_input(&[byte; 64]).unwrap();
///     assert!(config.workers.unwrap_or(0) <= MAX_BUILD_WORKERS);
/// }
/// ```
pub const MAX_BUILD_WORKERS: usize = 64;

/// How long a leaked thread may take to show up as gone.
const THREAD_EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Builder settings, including the absurd ones.
///
/// ```
/// use verified_pool::conformance::{check_build, BuildConfig, ThreadCheck};
///
/// let config = BuildConfig {
///     workers: Some(2),
///     capacity: Some(4),
///     thread_name: Some("kit".into()), // the workers must be "kit-0" and "kit-1"
///     stack_size: None,                 // the builder's default
///     panic_handler: true,
///     tasks: 3,
/// };
/// check_build(&config, ThreadCheck::TasksOnly).unwrap();
/// ```
#[derive(Arbitrary, Clone, Debug, PartialEq, Eq, Hash)]
pub struct BuildConfig {
    /// `Builder::workers`, 0 to [`MAX_BUILD_WORKERS`] (`None`: not called).
    #[arbitrary(with = arbitrary_workers)]
    pub workers: Option<usize>,
    /// `Builder::queue_capacity` (`None`: not called).
    #[arbitrary(with = arbitrary_size)]
    pub capacity: Option<usize>,
    /// `Builder::thread_name` (`None`: not called).
    pub thread_name: Option<String>,
    /// `Builder::stack_size` (`None`: not called).
    #[arbitrary(with = arbitrary_size)]
    pub stack_size: Option<usize>,
    /// Whether `Builder::panic_handler` is called.
    pub panic_handler: bool,
    /// How many tasks a built pool runs (0 to 4), alternately returning and
    /// panicking, plus one that reports its thread's name.
    #[arbitrary(with = |u: &mut Unstructured| u.int_in_range(0..=4))]
    pub tasks: u8,
}

fn arbitrary_workers(u: &mut Unstructured<'_>) -> arbitrary::Result<Option<usize>> {
    Ok(if u.arbitrary()? {
        Some(u.int_in_range(0..=MAX_BUILD_WORKERS)?)
    } else {
        None
    })
}

fn arbitrary_size(u: &mut Unstructured<'_>) -> arbitrary::Result<Option<usize>> {
    const NOTABLE: [usize; 14] = [
        0,
        1,
        2,
        4096,
        16 * 1024,
        64 * 1024,
        1 << 20,
        8 << 20,
        1 << 30,
        1 << 40,
        usize::MAX / 2,
        usize::MAX - 4095,
        usize::MAX - 1,
        usize::MAX,
    ];
    Ok(match u.int_in_range(0..=2u8)? {
        0 => None,
        1 => Some(*u.choose(&NOTABLE)?),
        _ => Some(u.arbitrary()?),
    })
}

impl BuildConfig {
    /// Decodes fuzzer input as `fuzz_target!` does (see
    /// [`Program::from_fuzz_input`](super::Program::from_fuzz_input)).
    ///
    /// ```
    /// use verified_pool::conformance::{check_build, BuildConfig, ThreadCheck};
    ///
    /// assert!(BuildConfig::from_fuzz_input(&[0; 4]).is_none()); // too short: skipped
    /// let config = BuildConfig::from_fuzz_input(&[3; 64]).unwrap();
    /// assert!(config.tasks <= 4);
    /// check_build(&config, ThreadCheck::TasksOnly).unwrap();
    /// ```
    pub fn from_fuzz_input(bytes: &[u8]) -> Option<BuildConfig> {
        from_fuzz_input(bytes)
    }
}

/// How [`check_build`] looks for threads left behind.
///
/// ```
/// use verified_pool::conformance::{check_build, BuildConfig, ThreadCheck};
///
/// let config = BuildConfig {
///     workers: Some(2),
///     capacity: None,
///     thread_name: None,
///     stack_size: None,
///     panic_handler: false,
///     tasks: 2,
/// };
/// // A doc test is a process of its own where no other thread comes or goes,
/// // so counting the whole process's threads is sound here.
/// check_build(&config, ThreadCheck::Process).unwrap();
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadCheck {
    /// Counts the process's threads (Linux: `/proc/self/status`) before
    /// and after: only sound when no other thread of the process starts or
    /// ends meanwhile (a fuzz target; a test binary running one test).
    Process,
    /// Only checks the threads that ran a task (they must have exited when
    /// `join()` returns); a failed build is then not checked for leaks.
    TasksOnly,
}

fn process_threads() -> Option<usize> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
}

/// Waits (briefly: the kernel reaps a joined thread a moment after
/// `pthread_join` returns) until the process has at most `baseline`
/// threads.
fn threads_back_to(baseline: Option<usize>) -> Result<(), usize> {
    let Some(baseline) = baseline else {
        return Ok(());
    };
    let deadline = Instant::now() + THREAD_EXIT_TIMEOUT;
    loop {
        match process_threads() {
            Some(now) if now > baseline => {
                if Instant::now() >= deadline {
                    return Err(now - baseline);
                }
                std::thread::yield_now();
            }
            _ => return Ok(()),
        }
    }
}

/// Builds a pool with `config`; checks that the result is the documented
/// error or a pool that runs tasks, names its threads, contains panics and
/// joins, and that no thread is left behind either way.
///
/// ```
/// use verified_pool::conformance::{check_build, BuildConfig, ThreadCheck};
///
/// let config = BuildConfig {
///     workers: Some(2),
///     capacity: Some(0), // refused: ZeroCapacity
///     thread_name: Some("bad\0name".into()),
///     stack_size: Some(usize::MAX),
///     panic_handler: true,
///     tasks: 2,
/// };
/// check_build(&config, ThreadCheck::TasksOnly).unwrap();
/// ```
pub fn check_build(config: &BuildConfig, threads: ThreadCheck) -> Result<(), Violation> {
    let config = BuildConfig {
        workers: config.workers.map(|w| w.min(MAX_BUILD_WORKERS)),
        tasks: config.tasks.min(4),
        ..config.clone()
    };
    build_and_use(&config, threads).map_err(|v| v.with_input(&config))
}

fn build_and_use(config: &BuildConfig, threads: ThreadCheck) -> Result<(), Violation> {
    let baseline = match threads {
        ThreadCheck::Process => process_threads(),
        ThreadCheck::TasksOnly => None,
    };
    let lab = Lab::new();
    let sink = lab.panic_sink();
    let built = catch_unwind(AssertUnwindSafe(|| {
        let mut builder = Pool::builder();
        if let Some(n) = config.workers {
            builder = builder.workers(n);
        }
        if let Some(n) = config.capacity {
            builder = builder.queue_capacity(n);
        }
        if let Some(name) = &config.thread_name {
            builder = builder.thread_name(name.clone());
        }
        if let Some(bytes) = config.stack_size {
            builder = builder.stack_size(bytes);
        }
        if config.panic_handler {
            builder = builder.panic_handler(move |payload| sink.deliver(payload));
        }
        builder.build()
    }));
    let built = match built {
        Ok(built) => built,
        Err(_) => violation!(BadInputGetsAClearError, "build() panicked"),
    };
    let name_has_nul = config
        .thread_name
        .as_ref()
        .is_some_and(|name| name.contains('\0'));
    let must_fail = if config.workers == Some(0) {
        Some("ZeroWorkers")
    } else if config.capacity == Some(0) {
        Some("ZeroCapacity")
    } else if name_has_nul || config.stack_size == Some(usize::MAX) {
        Some("Spawn")
    } else {
        None
    };
    let pool = match built {
        Err(e) => {
            let fits = match (&e, must_fail) {
                (BuildError::ZeroWorkers, Some("ZeroWorkers"))
                | (BuildError::ZeroCapacity, Some("ZeroCapacity"))
                | (BuildError::Spawn(_), Some("Spawn")) => true,
                // The system may refuse any explicit stack size.
                (BuildError::Spawn(_), None) => config.stack_size.is_some(),
                _ => false,
            };
            ensure!(
                fits,
                BadInputGetsAClearError,
                "build() failed with {e:?}; expected {}",
                must_fail.unwrap_or("a pool")
            );
            ensure!(
                !e.to_string().is_empty(),
                BadInputGetsAClearError,
                "{e:?} displays as nothing"
            );
            ensure!(
                matches!(e, BuildError::Spawn(_)) == e.source().is_some(),
                BadInputGetsAClearError,
                "{e:?} has source {:?}",
                e.source()
            );
            if let Err(extra) = threads_back_to(baseline) {
                violation!(
                    BadInputGetsAClearError,
                    "build() failed with {e:?} and left {extra} thread(s) behind"
                );
            }
            return Ok(());
        }
        Ok(pool) => pool,
    };
    if let Some(error) = must_fail {
        violation!(
            BadInputGetsAClearError,
            "build() succeeded; expected BuildError::{error}"
        );
    }
    let workers = config
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let stats = pool.stats();
    ensure!(
        stats.workers == workers && pool.state() == State::Running,
        BadInputGetsAClearError,
        "a new pool of {workers} workers: state {:?}, stats {stats:?}",
        pool.state()
    );

    let mut handles = Vec::new();
    for i in 0..config.tasks {
        let kind = if i % 2 == 0 {
            TaskKind::Value
        } else {
            TaskKind::Panic
        };
        let task = lab.task(kind, Via::Submit);
        let id = task.id();
        match pool.try_submit(task.into_submit()) {
            Ok(handle) => handles.push((id, kind, handle)),
            Err(refused) => {
                // Only a full bounded queue may refuse a running pool.
                ensure!(
                    config
                        .capacity
                        .is_some_and(|c| c < usize::from(config.tasks) + 1),
                    BadInputGetsAClearError,
                    "a new pool refused task {id}: {refused}"
                );
            }
        }
    }
    let name = match pool.submit(|| std::thread::current().name().map(String::from)) {
        Ok(handle) => handle.join(),
        Err(refused) => violation!(
            BadInputGetsAClearError,
            "a new pool refused a task: {refused}"
        ),
    };
    let prefix = config.thread_name.as_deref().unwrap_or("verified-pool");
    let named = match &name {
        Ok(Some(name)) => name
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|id| id.parse::<usize>().ok())
            .is_some_and(|id| id < workers),
        _ => false,
    };
    ensure!(
        named,
        BadInputGetsAClearError,
        "a worker of a pool with prefix {prefix:?} is named {name:?}"
    );
    let executed_panic = config.panic_handler
        && pool
            .execute(lab.task(TaskKind::Panic, Via::Execute).into_execute())
            .is_ok();
    for (id, kind, handle) in handles {
        let result = handle.join();
        let fine = match (kind, &result) {
            (TaskKind::Value, Ok(v)) => *v == id,
            (TaskKind::Panic, Err(TaskError::Panicked(p))) => {
                p.downcast_ref::<DeliberatePanic>() == Some(&DeliberatePanic { task: id })
            }
            _ => false,
        };
        ensure!(
            fine,
            BadInputGetsAClearError,
            "task {id} ({kind:?}) gave {result:?}"
        );
    }
    if let Err(e) = pool.join() {
        violation!(NoSelfDeadlock, "join() refused: {e}");
    }
    let stats = pool.stats();
    ensure!(
        pool.state() == State::Terminated && stats.workers == 0,
        JoinMeansGone,
        "after join(): state {:?}, stats {stats:?}",
        pool.state()
    );
    ensure!(
        lab.live_workers() == 0,
        JoinMeansGone,
        "after join(), {} worker thread(s) were still alive",
        lab.live_workers()
    );
    let anomalies = lab.anomalies();
    ensure!(
        anomalies.is_empty(),
        PanicsAreContained,
        "{}",
        anomalies.join("; ")
    );
    let handler_calls = lab.progress().handler_calls;
    ensure!(
        handler_calls == u64::from(executed_panic),
        PanicsAreContained,
        "the panic handler was called {handler_calls} time(s)"
    );
    drop(pool);
    if let Err(extra) = threads_back_to(baseline) {
        violation!(
            JoinMeansGone,
            "after join(), {extra} thread(s) were left behind"
        );
    }
    Ok(())
}
