//! Utility types and functions, shaped like rust-rdkafka's `rdkafka::util`.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The client library's version as `(number, text)`, like librdkafka's `rd_kafka_version()`
/// and `rd_kafka_version_str()`.
///
/// purekafka links no librdkafka, so this reports purekafka's own version honestly: the
/// number uses librdkafka's layout `0xMMmmrrpp` (major, minor, revision, `0xff` for a release)
/// and the text is `"purekafka <version>"`. Code that compares the number against librdkafka
/// versions (e.g. `>= 0x010000ff`) sees a 0.x version.
pub fn get_rdkafka_version() -> (i32, String) {
    let part = |s: &str| s.parse::<i32>().unwrap_or(0).clamp(0, 0xff);
    let number = (part(env!("CARGO_PKG_VERSION_MAJOR")) << 24)
        | (part(env!("CARGO_PKG_VERSION_MINOR")) << 16)
        | (part(env!("CARGO_PKG_VERSION_PATCH")) << 8)
        | 0xff;
    (number, format!("purekafka {}", env!("CARGO_PKG_VERSION")))
}

/// A point in time an operation must finish by, or none.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Deadline {
    /// Finish by this instant.
    At(Instant),
    /// No limit.
    Never,
}

impl Deadline {
    /// The deadline `duration` from now (`None`: never).
    pub(crate) fn new(duration: Option<Duration>) -> Self {
        // A duration too large to add is as good as no deadline.
        match duration.and_then(|d| Instant::now().checked_add(d)) {
            Some(at) => Self::At(at),
            None => Self::Never,
        }
    }

    /// Time left, zero once passed, `Duration::MAX` for `Never`.
    pub(crate) fn remaining(&self) -> Duration {
        match self {
            Self::At(at) => at.saturating_duration_since(Instant::now()),
            Self::Never => Duration::MAX,
        }
    }

    /// Whether the deadline has passed.
    pub(crate) fn elapsed(&self) -> bool {
        self.remaining().is_zero()
    }
}

/// How long a Kafka operation may wait.
#[derive(Copy, Clone, Debug, Eq, PartialEq, Ord, PartialOrd)]
pub enum Timeout {
    /// Give up after this long.
    After(Duration),
    /// Wait forever.
    Never,
}

#[cfg_attr(
    not(test),
    expect(
        dead_code,
        reason = "used by the producers, which come in a later issue"
    )
)]
impl Timeout {
    /// librdkafka's representation: milliseconds as `i32` (saturating), `-1` for `Never`.
    pub(crate) fn as_millis(&self) -> i32 {
        match self {
            Self::After(d) => i32::try_from(d.as_millis()).unwrap_or(i32::MAX),
            Self::Never => -1,
        }
    }

    /// `self - rhs`, stopping at zero; `Never` stays `Never`.
    pub(crate) fn saturating_sub(&self, rhs: Duration) -> Self {
        match self {
            Self::After(d) => Self::After(d.saturating_sub(rhs)),
            Self::Never => Self::Never,
        }
    }

    /// Whether this is a zero timeout (a single non-blocking attempt).
    pub(crate) fn is_zero(&self) -> bool {
        matches!(self, Self::After(d) if d.is_zero())
    }
}

impl std::ops::SubAssign for Timeout {
    /// Subtracts a duration from a timeout; `Never - After(_)` stays `Never`.
    ///
    /// # Panics
    ///
    /// When `other` is `Never` (ill-defined, as in rdkafka), or when `After(a) - After(b)`
    /// underflows (as `Duration -= Duration` does).
    fn sub_assign(&mut self, other: Self) {
        match (self, other) {
            (Self::After(lhs), Self::After(rhs)) => *lhs -= rhs,
            (Self::Never, Self::After(_)) => {}
            (_, Self::Never) => panic!("subtraction of Timeout::Never is ill-defined"),
        }
    }
}

impl From<Timeout> for Deadline {
    fn from(t: Timeout) -> Self {
        match t {
            Timeout::After(d) => Self::new(Some(d)),
            Timeout::Never => Self::Never,
        }
    }
}

impl From<&Deadline> for Timeout {
    fn from(d: &Deadline) -> Self {
        match d {
            Deadline::At(_) => Self::After(d.remaining()),
            Deadline::Never => Self::Never,
        }
    }
}

impl From<Duration> for Timeout {
    fn from(d: Duration) -> Self {
        Self::After(d)
    }
}

impl From<Option<Duration>> for Timeout {
    fn from(v: Option<Duration>) -> Self {
        match v {
            Some(d) => Self::After(d),
            None => Self::Never,
        }
    }
}

/// Milliseconds since the Unix epoch at `time` (0 for times before the epoch).
pub fn millis_to_epoch(time: SystemTime) -> i64 {
    let millis = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis();
    i64::try_from(millis).unwrap_or(i64::MAX)
}

/// The current wall-clock time in milliseconds since the Unix epoch.
pub fn current_time_millis() -> i64 {
    millis_to_epoch(SystemTime::now())
}

/// A value that can ride along with a produced message and come back, unchanged, with its
/// delivery report (the `delivery_opaque` of `BaseRecord`, `ProducerContext::DeliveryOpaque`).
///
/// **Deviation from rdkafka.** rdkafka's trait converts the value to a raw `*mut c_void` and
/// back (`fn into_ptr(self)`, `unsafe fn from_ptr(ptr)`), because the value travels through
/// librdkafka's C API. purekafka is pure Rust and forbids `unsafe`: the producer keeps the
/// value itself until the report, so the trait has no methods and is only a marker. The types
/// rdkafka implements it for (`()`, `usize`, `Box<T>`, `Arc<T>` with `T: Send + Sync`) work
/// unchanged, and any other `Send + Sync` type can opt in with an empty
/// `impl IntoOpaque for MyType {}`. A hand-written rdkafka impl (with `into_ptr`/`from_ptr`)
/// must drop those two methods.
pub trait IntoOpaque: Send + Sync + Sized {}

impl IntoOpaque for () {}

impl IntoOpaque for usize {}

impl<T: Send + Sync> IntoOpaque for Box<T> {}

impl<T: Send + Sync> IntoOpaque for Arc<T> {}

/// An asynchronous runtime, as the future-based producer needs one: spawn a task, sleep.
///
/// Implement it to run the `FutureProducer` on a runtime other than tokio.
pub trait AsyncRuntime: Send + Sync + 'static {
    /// The future [`delay_for`](AsyncRuntime::delay_for) returns.
    type Delay: Future<Output = ()> + Send;

    /// Spawns `task` and lets it run to completion (detached).
    fn spawn<T>(task: T)
    where
        T: Future<Output = ()> + Send + 'static;

    /// A future that completes after `duration`.
    fn delay_for(duration: Duration) -> Self::Delay;
}

/// The [`AsyncRuntime`] used when none is named: `()` (no runtime) because neither the
/// `tokio` nor the `naive-runtime` feature is on.
#[cfg(not(any(feature = "tokio", feature = "naive-runtime")))]
pub type DefaultRuntime = ();

/// The [`AsyncRuntime`] used when none is named: [`NaiveRuntime`] (feature `naive-runtime`
/// without `tokio`).
#[cfg(all(not(feature = "tokio"), feature = "naive-runtime"))]
pub type DefaultRuntime = NaiveRuntime;

/// The [`AsyncRuntime`] used when none is named: [`TokioRuntime`] (feature `tokio`, on by
/// default).
#[cfg(feature = "tokio")]
pub type DefaultRuntime = TokioRuntime;

/// An [`AsyncRuntime`] backed by tokio: `tokio::spawn` and `tokio::time::sleep`, so it must
/// be used from within a tokio runtime.
#[cfg(feature = "tokio")]
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioRuntime;

#[cfg(feature = "tokio")]
impl AsyncRuntime for TokioRuntime {
    type Delay = tokio::time::Sleep;

    fn spawn<T>(task: T)
    where
        T: Future<Output = ()> + Send + 'static,
    {
        // Detached on purpose, as rdkafka does: the JoinHandle is not needed.
        drop(tokio::spawn(task));
    }

    fn delay_for(duration: Duration) -> Self::Delay {
        tokio::time::sleep(duration)
    }
}

#[cfg(feature = "naive-runtime")]
pub use naive::{NaiveDelay, NaiveRuntime};

#[cfg(feature = "naive-runtime")]
mod naive {
    use std::future::Future;
    use std::pin::{Pin, pin};
    use std::sync::{Arc, Mutex, PoisonError};
    use std::task::{Context, Poll, Wake, Waker};
    use std::thread::{self, Thread};
    use std::time::Duration;

    use super::AsyncRuntime;

    /// An [`AsyncRuntime`] that needs no runtime at all: every spawned task runs on its own
    /// thread and every delay sleeps on its own thread. Simple and slow; for tests and tools.
    ///
    /// rdkafka's version uses `futures-executor` and a oneshot channel; this one uses only
    /// `std`, so its [`Delay`](AsyncRuntime::Delay) type is [`NaiveDelay`] instead of
    /// rdkafka's `Map<oneshot::Receiver<()>, _>`.
    #[derive(Clone, Copy, Debug, Default)]
    pub struct NaiveRuntime;

    #[derive(Default)]
    struct DelayState {
        done: bool,
        waker: Option<Waker>,
    }

    /// The future [`NaiveRuntime::delay_for`] returns: completes when its sleeping thread
    /// wakes up.
    pub struct NaiveDelay {
        state: Arc<Mutex<DelayState>>,
    }

    impl std::fmt::Debug for NaiveDelay {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("NaiveDelay").finish_non_exhaustive()
        }
    }

    impl Future for NaiveDelay {
        type Output = ();

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            // A poisoned lock only means the sleeper thread panicked while holding it;
            // the flag is still meaningful.
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if state.done {
                Poll::Ready(())
            } else {
                state.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    struct ThreadWaker(Thread);

    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }

    /// Runs `fut` to completion on the current thread, parking between polls.
    fn block_on<F: Future>(fut: F) -> F::Output {
        let mut fut = pin!(fut);
        let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return out;
            }
            thread::park();
        }
    }

    impl AsyncRuntime for NaiveRuntime {
        type Delay = NaiveDelay;

        fn spawn<T>(task: T)
        where
            T: Future<Output = ()> + Send + 'static,
        {
            thread::spawn(move || block_on(task));
        }

        fn delay_for(duration: Duration) -> NaiveDelay {
            let state = Arc::new(Mutex::new(DelayState::default()));
            let sleeper = Arc::clone(&state);
            thread::spawn(move || {
                thread::sleep(duration);
                let waker = {
                    let mut s = sleeper.lock().unwrap_or_else(PoisonError::into_inner);
                    s.done = true;
                    s.waker.take()
                };
                if let Some(w) = waker {
                    w.wake();
                }
            });
            NaiveDelay { state }
        }
    }

    #[cfg(test)]
    mod tests {
        #![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

        use std::sync::mpsc;
        use std::time::Instant;

        use super::*;

        #[test]
        fn naive_runtime_delays_and_spawns() {
            let start = Instant::now();
            block_on(NaiveRuntime::delay_for(Duration::from_millis(30)));
            assert!(start.elapsed() >= Duration::from_millis(30));

            let (tx, rx) = mpsc::channel();
            NaiveRuntime::spawn(async move {
                NaiveRuntime::delay_for(Duration::from_millis(1)).await;
                tx.send(42).unwrap();
            });
            assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(42));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

    use super::*;

    #[test]
    fn timeout_conversions() {
        assert_eq!(
            Timeout::from(Duration::from_millis(1500)),
            Timeout::After(Duration::from_millis(1500))
        );
        assert_eq!(Timeout::from(None::<Duration>), Timeout::Never);
        assert_eq!(
            Timeout::from(Some(Duration::from_secs(2))),
            Timeout::After(Duration::from_secs(2))
        );
        assert_eq!(
            Timeout::After(Duration::from_millis(1500)).as_millis(),
            1500
        );
        assert_eq!(Timeout::Never.as_millis(), -1);
        assert_eq!(Timeout::After(Duration::MAX).as_millis(), i32::MAX);
        assert!(Timeout::After(Duration::ZERO).is_zero());
        assert!(!Timeout::Never.is_zero());
        assert_eq!(
            Timeout::After(Duration::from_millis(5)).saturating_sub(Duration::from_secs(1)),
            Timeout::After(Duration::ZERO)
        );
        assert_eq!(
            Timeout::Never.saturating_sub(Duration::from_secs(1)),
            Timeout::Never
        );
        // Ordering is derived: any duration sorts before Never.
        assert!(Timeout::After(Duration::MAX) < Timeout::Never);
    }

    #[test]
    fn timeout_sub_assign() {
        let mut t = Timeout::After(Duration::from_secs(3));
        t -= Timeout::After(Duration::from_secs(1));
        assert_eq!(t, Timeout::After(Duration::from_secs(2)));
        let mut never = Timeout::Never;
        never -= Timeout::After(Duration::from_secs(1));
        assert_eq!(never, Timeout::Never);
    }

    #[test]
    #[should_panic(expected = "subtraction of Timeout::Never is ill-defined")]
    fn timeout_sub_never_panics() {
        let mut t = Timeout::After(Duration::from_secs(1));
        t -= Timeout::Never;
    }

    #[test]
    fn deadlines() {
        let never = Deadline::from(Timeout::Never);
        assert!(!never.elapsed());
        assert_eq!(never.remaining(), Duration::MAX);
        assert_eq!(Timeout::from(&never), Timeout::Never);

        let past = Deadline::from(Timeout::After(Duration::ZERO));
        assert!(past.elapsed());
        assert_eq!(Timeout::from(&past), Timeout::After(Duration::ZERO));

        let later = Deadline::new(Some(Duration::from_secs(3600)));
        assert!(!later.elapsed());
        assert!(later.remaining() > Duration::from_secs(3500));
        // An unrepresentable deadline means "never" instead of panicking.
        assert!(matches!(
            Deadline::new(Some(Duration::MAX)),
            Deadline::Never
        ));
    }

    #[test]
    fn epoch_millis() {
        let t = UNIX_EPOCH + Duration::from_millis(1_589_652_530_123);
        assert_eq!(millis_to_epoch(t), 1_589_652_530_123);
        assert_eq!(millis_to_epoch(UNIX_EPOCH - Duration::from_secs(5)), 0);
        let before = millis_to_epoch(SystemTime::now());
        let now = current_time_millis();
        assert!(now >= before && now - before < 60_000);
    }

    #[test]
    fn version_is_purekafkas() {
        let (number, text) = get_rdkafka_version();
        assert_eq!(text, format!("purekafka {}", env!("CARGO_PKG_VERSION")));
        let major: i32 = env!("CARGO_PKG_VERSION_MAJOR").parse().unwrap();
        let minor: i32 = env!("CARGO_PKG_VERSION_MINOR").parse().unwrap();
        let patch: i32 = env!("CARGO_PKG_VERSION_PATCH").parse().unwrap();
        assert_eq!(number, (major << 24) | (minor << 16) | (patch << 8) | 0xff);
    }

    fn assert_opaque<T: IntoOpaque>() {}

    #[test]
    fn opaque_impls() {
        assert_opaque::<()>();
        assert_opaque::<usize>();
        assert_opaque::<Box<String>>();
        assert_opaque::<Arc<Vec<u8>>>();
    }

    #[cfg(feature = "tokio")]
    #[tokio::test]
    async fn tokio_runtime_delays_and_spawns() {
        let start = Instant::now();
        TokioRuntime::delay_for(Duration::from_millis(20)).await;
        assert!(start.elapsed() >= Duration::from_millis(20));
        let (tx, rx) = tokio::sync::oneshot::channel();
        TokioRuntime::spawn(async move {
            let _ = tx.send(7);
        });
        assert_eq!(rx.await, Ok(7));
    }
}
