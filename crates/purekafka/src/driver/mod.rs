//! The tokio driver of the sans-IO [`Engine`]: one background thread per producer running a
//! current-thread runtime, TCP connections, the engine's timer, and the event queue that
//! `poll`/`flush` serve.
//!
//! The engine lives in [`Shared`] behind a mutex. Whoever touches it (a `send` on the user's
//! thread, a connection task, the timer task) calls [`Shared::service`] before unlocking,
//! which routes the engine's outputs: connection commands spawn or stop connection tasks,
//! frames go straight to their connection's writer channel, events go to the event queue,
//! and the driver's timer task is woken only when the engine's next deadline moved earlier
//! than the one it sleeps on. A `send` that just appends to a batch therefore costs no
//! wakeup at all, and an idle producer has no periodic work.

mod clock;
mod conn;
mod stats;

pub(crate) use self::stats::StatsMeta;

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::Waker;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex, MutexGuard};
use purekafka_core::config::{BrokerAddress, BrokerAddressFamily};
use purekafka_core::engine::{TxnError, TxnOp};
use purekafka_core::{
    CompressJob, ConnCommand, ConnId, Engine, ErrorCode, Event, Instant, ProducerConfig,
};
use purekafka_protocol::frame::produce::ChunkedFrame;
use tokio::sync::{Notify, mpsc};

use crate::config::RDKafkaLogLevel;
use tokio::task::AbortHandle;

/// Called on the driver thread with every event, when the producer resolves its reports
/// there (the `FutureProducer`) instead of queueing them for `poll`. The wakers it pushes run
/// once the round's reports no longer count against the queue limits (see
/// `dispatch_inline`).
pub(crate) type InlineDispatch<O> = Box<dyn Fn(Event<O>, &mut Vec<Waker>) + Send + Sync>;

/// Receives the driver's log lines (`ClientContext::log`): level, facility, message.
pub(crate) type Logger = Box<dyn Fn(RDKafkaLogLevel, &str, &str) + Send + Sync>;

/// No deadline armed.
const NO_DEADLINE: u64 = u64::MAX;

/// Why the driver could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DriverError {
    /// The tokio runtime or the driver thread could not be created.
    #[error("could not start the producer's driver thread: {0}")]
    Spawn(#[from] std::io::Error),
}

/// Socket options the driver applies (the engine leaves them to the driver).
#[derive(Clone, Debug)]
pub(crate) struct SocketOptions {
    pub(crate) connect_timeout: Duration,
    pub(crate) nodelay: bool,
    pub(crate) keepalive: bool,
    /// SO_SNDBUF / SO_RCVBUF; 0 keeps the system default.
    pub(crate) send_buffer: u32,
    pub(crate) receive_buffer: u32,
    pub(crate) family: BrokerAddressFamily,
    pub(crate) max_frame_size: usize,
}

impl SocketOptions {
    fn from_config(cfg: &ProducerConfig) -> Self {
        Self {
            connect_timeout: cfg.socket_connection_setup_timeout,
            nodelay: cfg.socket_nagle_disable,
            keepalive: cfg.socket_keepalive_enable,
            send_buffer: cfg.socket_send_buffer_bytes,
            receive_buffer: cfg.socket_receive_buffer_bytes,
            family: cfg.broker_address_family,
            // A response may carry up to receive.message.max.bytes; anything larger is a
            // broken or hostile peer.
            max_frame_size: cfg.receive_message_max_bytes.max(64 * 1024),
        }
    }
}

/// One connection the driver runs for the engine.
struct ConnEntry {
    /// Frames to write, whole (one channel send per frame, not per chunk).
    writer: mpsc::UnboundedSender<ChunkedFrame>,
    /// Set once the driver thread spawned the connection's task.
    task: Option<AbortHandle>,
}

/// A connection for the driver thread to start (spawning needs the driver's `'static` types,
/// so the lock holder hands the work over instead of spawning itself).
struct SpawnConn {
    conn: ConnId,
    address: BrokerAddress,
    rx: mpsc::UnboundedReceiver<ChunkedFrame>,
}

/// Everything behind the engine lock.
pub(crate) struct State<O> {
    /// The sans-IO producer.
    pub(crate) engine: Engine<O>,
    /// Events taken from the engine and not yet handed to the application.
    events: VecDeque<Event<O>>,
    /// The delivery reports in `events` or being dispatched right now: they still count
    /// against the queue limits and as in flight, like librdkafka's unserved reports (the
    /// engine is told, `Engine::set_unserved`).
    unserved: Unserved,
    conns: HashMap<ConnId, ConnEntry>,
    /// Threads inside `flush` (the engine ignores linger while any waits).
    pub(crate) flushers: usize,
    /// Finished transactional operations not yet taken by the thread waiting for them.
    txn_results: Vec<(TxnOp, Result<(), TxnError>)>,
    /// The armed deadline a `send` last found overdue and woke the driver for (once each).
    kicked: u64,
}

impl<O> State<O> {
    /// Whether no event waits to be served.
    pub(crate) fn events_is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Whether `op` finished and its result waits to be taken.
    pub(crate) fn has_txn_result(&self, op: TxnOp) -> bool {
        self.txn_results.iter().any(|(o, _)| *o == op)
    }

    /// Takes the result of `op`, if it finished.
    pub(crate) fn take_txn_result(&mut self, op: TxnOp) -> Option<Result<(), TxnError>> {
        let i = self.txn_results.iter().position(|(o, _)| *o == op)?;
        Some(self.txn_results.swap_remove(i).1)
    }
}

/// Events taken from the queue, and the records and bytes of their delivery reports.
pub(crate) type Taken<O> = (VecDeque<Event<O>>, Unserved);

/// Records, and their bytes as `queue.buffering.max.kbytes` counts them, in delivery reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Unserved {
    records: usize,
    bytes: usize,
}

impl Unserved {
    fn add<O>(&mut self, ev: &Event<O>) {
        if let Event::Delivery(r) = ev {
            self.records += r.len();
            self.bytes += r.accounted_bytes();
        }
    }
}

/// How long [`Shared::lock`] spins on a held engine lock before it sleeps. Measured on 2
/// vCPUs, sink, 16 partitions, `linger.ms = 0`, 4 alternating rounds: no spin 0.98-1.13 M
/// msgs/s, 2 µs 1.09-1.63 M, 5 µs 1.23-1.59 M, 10 µs 1.17-1.96 M.
const LOCK_SPIN: Duration = Duration::from_micros(10);

/// Pause instructions between two looks at the lock (and at the clock) while spinning.
const SPINS_PER_CHECK: u32 = 32;

/// Locks `m`; when it is held and `spin` is set, spins for up to [`LOCK_SPIN`] before it
/// parks (see [`Shared::lock`]).
fn lock_spinning<T>(m: &Mutex<T>, spin: bool) -> MutexGuard<'_, T> {
    if let Some(guard) = m.try_lock() {
        return guard;
    }
    if spin {
        let start = std::time::Instant::now();
        loop {
            for _ in 0..SPINS_PER_CHECK {
                std::hint::spin_loop();
            }
            // Look before the compare-and-swap: spinning then reads a shared cache line
            // instead of taking it away from the holder.
            if !m.is_locked() {
                if let Some(guard) = m.try_lock() {
                    return guard;
                }
            }
            if start.elapsed() >= LOCK_SPIN {
                break;
            }
        }
    }
    m.lock()
}

/// The state a producer and its driver thread share.
pub(crate) struct Shared<O> {
    /// parking_lot's mutex spins briefly before it parks: a `send` waiting for the driver
    /// thread's short turn (building a request, taking a response) then rarely sleeps. With
    /// std's mutex it slept each time: 46 000 times in 3 M messages at `linger.ms=0`, 16
    /// partitions, sink (parking_lot: 1.28 M -> 1.61 M msgs/s, CPU per message -14 %).
    /// [`Shared::lock`] spins longer than parking_lot does before it parks.
    state: Mutex<State<O>>,
    /// Whether a thread that finds the engine locked spins for up to [`LOCK_SPIN`] before it
    /// sleeps: only with more than one CPU, where the holder runs meanwhile.
    spin_on_contention: bool,
    /// Signalled when events arrive or the in-flight count drops (for `poll`/`flush`).
    events_cv: Condvar,
    /// Threads blocked on `events_cv` (to skip the futex wake when nobody waits).
    cv_waiters: AtomicUsize,
    /// Wakes the driver's timer task: its deadline moved earlier, inline events wait, or stop.
    wake: Notify,
    /// The engine instant (ns) the timer task sleeps until.
    armed: AtomicU64,
    /// Timer waits finished on the blocking pool: each is a thread hand-off, fine per
    /// `linger.ms` deadline, a bug if it happens per request.
    pub(crate) blocking_sleeps: AtomicU64,
    /// Woken when reports were dispatched inline, so queue space may have been freed.
    space_freed: Notify,
    space_waiters: AtomicUsize,
    stop: AtomicBool,
    /// Dispatches events on the driver thread, if the producer resolves its reports there
    /// (else they are queued for `poll`).
    inline: Option<InlineDispatch<O>>,
    /// Events wait for the driver loop's dispatch (set with them, under the lock).
    inline_ready: AtomicBool,
    /// The engine's clock (see [`clock::Clock`]).
    clock: clock::Clock,
    /// System time minus the engine clock, in µs (see [`Shared::wall_ms`]).
    wall_offset_us: AtomicI64,
    /// The engine-clock instant (ns) at which `wall_offset_us` was last taken.
    wall_synced_ns: AtomicU64,
    spawn: mpsc::UnboundedSender<SpawnConn>,
    /// The first fatal error (idempotence or transactions), for `Client::fatal_error`.
    pub(crate) fatal: Arc<OnceLock<(ErrorCode, String)>>,
    logger: Option<Logger>,
    /// The most verbose level passed to `logger` (syslog numbering, like `log_level`).
    log_level: i32,
}

impl<O> Shared<O> {
    /// Locks the engine. A panic in a user callback never runs under this lock, and the
    /// lock does not poison: the engine has no invariant a panic elsewhere breaks.
    ///
    /// A contended lock first spins for up to [`LOCK_SPIN`]: the driver thread's turns
    /// (taking a response, building a request) last a few microseconds, and parking_lot's
    /// own spinning (a few pauses, then `sched_yield`) gives up before that. Measured with
    /// `linger.ms = 0`, 16 partitions, sink, 0.74 M msgs/s: the sending thread found the
    /// lock held 1.3-1.7 times per request and waited 12 µs on average, mostly asleep; the
    /// futex waits and wakes and the yields were 21 % of the process's samples.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State<O>> {
        lock_spinning(&self.state, self.spin_on_contention)
    }

    /// Hands a log line to the application's context when its level is enabled; also
    /// emitted as a `tracing` event.
    pub(crate) fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        tracing::debug!(target: "purekafka::driver", "{fac}: {message}");
        if (level as i32) <= self.log_level {
            if let Some(logger) = &self.logger {
                logger(level, fac, message);
            }
        }
    }

    /// Now, on the engine's clock.
    pub(crate) fn now(&self) -> Instant {
        Instant::from_nanos(self.clock.now_ns())
    }

    /// Wall-clock milliseconds at the engine instant `now` (a record's default CreateTime).
    /// Derived from the monotonic clock and re-read from the system clock when the last
    /// reading is over a second old: one clock read per `send` instead of two, and a system
    /// clock step shows up within a second (drift in between is NTP slew, well under 1 ms).
    pub(crate) fn wall_ms(&self, now: Instant) -> i64 {
        let now_ns = now.as_nanos();
        let now_us = i64::try_from(now_ns / 1_000).unwrap_or(i64::MAX);
        if now_ns.saturating_sub(self.wall_synced_ns.load(Ordering::Relaxed)) >= 1_000_000_000 {
            self.wall_offset_us
                .store(system_time_us().saturating_sub(now_us), Ordering::Relaxed);
            self.wall_synced_ns.store(now_ns, Ordering::Relaxed);
        }
        self.wall_offset_us
            .load(Ordering::Relaxed)
            .saturating_add(now_us)
            .div_euclid(1_000)
    }

    /// The OS-clock instant at which the engine clock reaches `t` (for tokio's timers). The
    /// engine clock need not run in step with the OS clock over long stretches (see
    /// [`clock`]), so the time left is converted, not the instant.
    fn to_std(&self, t: Instant) -> std::time::Instant {
        // Capped so that the sum cannot overflow; a timer that far out is re-armed anyway.
        let left = t
            .saturating_duration_since(self.now())
            .min(Duration::from_secs(86_400));
        let now = std::time::Instant::now();
        now.checked_add(left).unwrap_or(now)
    }

    /// Routes the engine's outputs; call after every engine command or input, lock held.
    pub(crate) fn service(&self, st: &mut State<O>) {
        if self.service_with(st, true, false) {
            self.wake_driver();
        }
    }

    /// [`Shared::service`] for a connection's read loop, which dispatches the reports of
    /// the responses it handed in itself, once it released the lock ([`dispatch_taken`]),
    /// when the producer dispatches inline. Waking the driver's loop for them instead cost
    /// it a task switch and a lock per response, on the thread that builds the requests.
    pub(crate) fn service_taking_events(&self, st: &mut State<O>) -> Option<Taken<O>> {
        if self.service_with(st, true, self.inline.is_some()) {
            self.wake_driver();
        }
        if self.inline.is_none() || st.events.is_empty() {
            return None;
        }
        // Every queued event is taken; one queued later sets the flag again.
        self.inline_ready.store(false, Ordering::Relaxed);
        Some(Self::take_events(st))
    }

    /// Wakes the driver thread's loop.
    pub(crate) fn wake_driver(&self) {
        self.wake.notify_one();
    }

    /// [`Shared::service`] after a user's `send`: frames are left for the driver thread to
    /// take, so records sent while it wakes up or writes ride in the same request (how
    /// librdkafka batches with `linger.ms = 0`); pulling them here made one request per record.
    ///
    /// A timer deadline already past at `now` (the send's own clock read) means the driver's
    /// timer is late: its wake-up goes through tokio's timer and a blocking-pool sleep, two
    /// thread hand-offs that each wait for a CPU on a busy machine. The sender wakes it
    /// directly, once per deadline, so under load a `linger.ms` deadline is acted on one
    /// hand-off after it is due (measured, 1 partition at 0.94 M msgs/s to the real broker:
    /// records waited 0.2-0.3 ms longer than librdkafka's on average before their request).
    ///
    /// Returns whether the driver must be woken; the caller does it with
    /// [`Shared::wake_driver`] once it released the lock. Waking a parked driver is a
    /// syscall (tokio's eventfd) that took 6.6 % of the process with `linger.ms = 0`; made
    /// under the lock, it also kept the lock from the driver it had just woken.
    ///
    /// A send that only added its record to an open batch (`Engine::last_send_quiet`, every
    /// record of a batch but its first) left no output to route, so the pass is skipped: it
    /// was ~4 % of the sending thread's samples, all of it under the engine lock.
    #[must_use]
    pub(crate) fn service_after_send(&self, st: &mut State<O>, now: Instant) -> bool {
        let mut wake = if st.engine.last_send_quiet() {
            // Every earlier command's output was routed by its own pass, so none waits now.
            debug_assert!(!st.engine.has_queued_output(), "a quiet send left output");
            false
        } else {
            self.service_with(st, false, false)
        };
        let armed = self.armed.load(Ordering::Acquire);
        if armed <= now.as_nanos() && st.kicked != armed {
            st.kicked = armed;
            wake = true;
        }
        wake
    }

    /// Routes the engine's outputs; returns whether the driver must be woken. With
    /// `taking_events` the caller takes new events itself (see
    /// [`Shared::service_taking_events`]).
    #[must_use]
    fn service_with(&self, st: &mut State<O>, pull_transmits: bool, taking_events: bool) -> bool {
        let mut wake = false;
        while let Some(cmd) = st.engine.poll_conn_command() {
            match cmd {
                ConnCommand::Connect { conn, address } => {
                    let (tx, rx) = mpsc::unbounded_channel();
                    st.conns.insert(
                        conn,
                        ConnEntry {
                            writer: tx,
                            task: None,
                        },
                    );
                    // Fails only once the driver stopped; nothing connects any more then.
                    let _ = self.spawn.send(SpawnConn { conn, address, rx });
                }
                ConnCommand::Close { conn } => {
                    if let Some(entry) = st.conns.remove(&conn) {
                        tracing::debug!(conn = conn.0, "closing connection");
                        if let Some(task) = entry.task {
                            task.abort();
                        }
                    }
                }
            }
        }
        // Only when pulling: a clock read per `send` costs more than the rest of the service.
        let now = if pull_transmits {
            self.now()
        } else {
            Instant::ZERO
        };
        while let Some(t) = pull_transmits
            .then(|| st.engine.poll_transmit(now))
            .flatten()
        {
            match st.conns.get(&t.conn) {
                Some(entry) => {
                    // The writer writes a frame's chunks as they are (batches are never
                    // copied into the frame), with one channel send per frame: a send per
                    // chunk made ~2 per partition under this lock. It takes the chunks
                    // itself, computing the batches' CRCs there, without this lock. A send
                    // error means the connection task already ended; it reports the
                    // disconnect itself.
                    let _ = entry.writer.send(t.frame);
                }
                None => tracing::warn!(conn = t.conn.0, "frame for an unknown connection dropped"),
            }
        }
        let mut new_events = false;
        while let Some((op, result)) = st.engine.poll_txn_result() {
            st.txn_results.retain(|(o, _)| *o != op);
            st.txn_results.push((op, result));
            // The waiting thread may not be counted in `cv_waiters` when inline.
            self.notify_all_pollers();
        }
        if self.fatal.get().is_none() {
            if let Some((code, reason)) = st.engine.fatal_error() {
                let _ = self.fatal.set((code, reason.to_owned()));
            }
        }
        let before = st.unserved;
        while let Some(ev) = st.engine.poll_event() {
            st.unserved.add(&ev);
            st.events.push_back(ev);
            new_events = true;
        }
        if st.unserved != before {
            st.engine
                .set_unserved(st.unserved.records, st.unserved.bytes);
        }
        if new_events {
            if self.inline.is_some() {
                if !taking_events {
                    self.inline_ready.store(true, Ordering::Release);
                    wake = true;
                }
            } else {
                self.notify_waiters();
            }
        }
        let next = st
            .engine
            .poll_timeout()
            .map_or(NO_DEADLINE, Instant::as_nanos);
        if next < self.armed.load(Ordering::Acquire) {
            self.armed.store(next, Ordering::Release);
            wake = true;
        } else if !pull_transmits && st.engine.has_pending_transmit() {
            wake = true;
        }
        wake
    }

    /// Wakes threads blocked in `poll`/`flush`.
    pub(crate) fn notify_waiters(&self) {
        if self.cv_waiters.load(Ordering::Acquire) > 0 {
            self.events_cv.notify_all();
        }
    }

    /// Wakes every thread blocked in `poll`/`flush`, waiting or not.
    pub(crate) fn notify_all_pollers(&self) {
        self.events_cv.notify_all();
    }

    /// Blocks until notified or `timeout` passed; returns the guard.
    pub(crate) fn wait<'a>(
        &self,
        mut guard: MutexGuard<'a, State<O>>,
        timeout: Option<Duration>,
    ) -> MutexGuard<'a, State<O>> {
        self.cv_waiters.fetch_add(1, Ordering::AcqRel);
        match timeout {
            Some(t) => {
                self.events_cv.wait_for(&mut guard, t);
            }
            None => self.events_cv.wait(&mut guard),
        }
        self.cv_waiters.fetch_sub(1, Ordering::AcqRel);
        guard
    }

    /// Takes every queued event; their records stay counted until [`Shared::served`] is
    /// given the returned total.
    pub(crate) fn take_events(st: &mut State<O>) -> Taken<O> {
        let events = std::mem::take(&mut st.events);
        let mut taken = Unserved::default();
        for ev in &events {
            taken.add(ev);
        }
        (events, taken)
    }

    /// The reports taken with [`Shared::take_events`] (`taken`) have been handed out.
    pub(crate) fn served(&self, taken: Unserved) {
        if taken.records == 0 {
            return;
        }
        let mut st = self.lock();
        st.unserved.records = st.unserved.records.saturating_sub(taken.records);
        st.unserved.bytes = st.unserved.bytes.saturating_sub(taken.bytes);
        let u = st.unserved;
        st.engine.set_unserved(u.records, u.bytes);
        drop(st);
        self.notify_waiters();
        if self.space_waiters.load(Ordering::Acquire) > 0 {
            self.space_freed.notify_waiters();
        }
    }

    /// Whether the producer is shutting down.
    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// A future completing when queue space may have been freed (see `space_waiters`).
    pub(crate) fn space_freed(&self) -> &Notify {
        &self.space_freed
    }

    /// Count of tasks waiting on [`Shared::space_freed`].
    pub(crate) fn space_waiters(&self) -> &AtomicUsize {
        &self.space_waiters
    }
}

/// The producer's handle on its driver thread: stops and joins it on drop.
pub(crate) struct Driver<O> {
    shared: Arc<Shared<O>>,
    thread: Option<JoinHandle<()>>,
}

impl<O: Send + 'static> Driver<O> {
    /// Starts an engine for `config` and its driver thread.
    pub(crate) fn start(
        config: ProducerConfig,
        customize: impl FnOnce(&mut Engine<O>),
        inline: Option<InlineDispatch<O>>,
        logger: Option<Logger>,
        log_level: RDKafkaLogLevel,
    ) -> Result<Self, DriverError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            // The runtime's blocking threads run DNS lookups and the last sub-millisecond
            // stretch of timer waits (`precise_sleep_until`).
            .thread_name("purekafka-blocking")
            .build()?;
        let clock = clock::Clock::new();
        let seed = RandomState::new().hash_one(clock.origin());
        let socket = SocketOptions::from_config(&config);
        let config_log_level = config.log_level;
        let (spawn, spawn_rx) = mpsc::unbounded_channel();
        let mut engine = Engine::new(config, seed, Instant::ZERO);
        // The connection writers report what reached the socket (see conn::write_loop).
        engine.enable_write_feedback();
        // The driver thread compresses batches with the lock released (see timer_loop), so
        // `send` keeps filling the next batches meanwhile, as with librdkafka's broker threads.
        engine.enable_compression_offload();
        customize(&mut engine);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                engine,
                events: VecDeque::new(),
                unserved: Unserved::default(),
                conns: HashMap::new(),
                flushers: 0,
                txn_results: Vec::new(),
                kicked: NO_DEADLINE,
            }),
            spin_on_contention: std::thread::available_parallelism().is_ok_and(|n| n.get() > 1),
            events_cv: Condvar::new(),
            cv_waiters: AtomicUsize::new(0),
            wake: Notify::new(),
            armed: AtomicU64::new(NO_DEADLINE),
            blocking_sleeps: AtomicU64::new(0),
            space_freed: Notify::new(),
            space_waiters: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            inline,
            inline_ready: AtomicBool::new(false),
            clock,
            // The engine clock reads 0 now.
            wall_offset_us: AtomicI64::new(system_time_us()),
            wall_synced_ns: AtomicU64::new(0),
            spawn,
            fatal: Arc::new(OnceLock::new()),
            logger,
            // The stricter of the client's log level and the `log_level` property.
            log_level: (log_level as i32).min(config_log_level),
        });
        {
            let mut st = shared.lock();
            shared.service(&mut st);
        }
        let for_thread = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("purekafka-driver".to_owned())
            .spawn(move || {
                runtime.block_on(timer_loop(Arc::clone(&for_thread), spawn_rx, socket));
                // Dropping the runtime here cancels the connection tasks on this thread.
                drop(runtime);
                tracing::debug!("producer driver stopped");
            })?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }
}

impl<O> Driver<O> {
    /// The state shared with the driver thread.
    pub(crate) fn shared(&self) -> &Arc<Shared<O>> {
        &self.shared
    }

    /// Stops the driver thread and waits for it (idempotent).
    pub(crate) fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.wake_driver();
        self.shared.events_cv.notify_all();
        if let Some(t) = self.thread.take() {
            if t.thread().id() == std::thread::current().id() {
                // Dropped from a callback on the driver thread itself: it exits on its own.
                return;
            }
            if t.join().is_err() {
                tracing::error!("the producer driver thread panicked");
            }
        }
    }
}

impl<O> Drop for Driver<O> {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The driver's own task: fires the engine's timer and dispatches inline events.
async fn timer_loop<O: Send + 'static>(
    shared: Arc<Shared<O>>,
    mut spawn_rx: mpsc::UnboundedReceiver<SpawnConn>,
    socket: SocketOptions,
) {
    // The last deadline armed only to keep a stuck timer from spinning.
    let mut backstop = NO_DEADLINE;
    // Reused from round to round.
    let mut wakes = Vec::new();
    loop {
        if shared.stopping() {
            break;
        }
        shared.clock.calibrate();
        dispatch_inline(&shared, &mut wakes);
        let armed = shared.armed.load(Ordering::Acquire);
        let sleep = async {
            if armed == NO_DEADLINE {
                std::future::pending::<()>().await;
            } else if armed == backstop {
                tokio::time::sleep_until(shared.to_std(Instant::from_nanos(armed)).into()).await;
            } else {
                precise_sleep_until(
                    shared.to_std(Instant::from_nanos(armed)),
                    &shared.blocking_sleeps,
                )
                .await;
            }
        };
        tokio::select! {
            () = shared.wake.notified() => {}
            Some(req) = spawn_rx.recv() => {
                let mut st = shared.lock();
                // The engine may have closed the connection before it was even started.
                if let Some(entry) = st.conns.get_mut(&req.conn) {
                    let task = tokio::spawn(conn::run(
                        Arc::clone(&shared),
                        req.conn,
                        req.address,
                        req.rx,
                        socket.clone(),
                    ));
                    entry.task = Some(task.abort_handle());
                }
            }
            () = sleep => {
                let mut st = shared.lock();
                let now = shared.now();
                st.engine.handle_timeout(now);
                let mut jobs = Vec::new();
                while let Some(job) = st.engine.poll_compress() {
                    jobs.push(job);
                }
                if !jobs.is_empty() {
                    // Compress without the lock: senders keep appending to new batches.
                    drop(st);
                    let done: Vec<_> = jobs.into_iter().map(CompressJob::run).collect();
                    st = shared.lock();
                    let now = shared.now();
                    for d in done {
                        st.engine.handle_compressed(now, d);
                    }
                }
                // Build the requests first: a finished compression makes the engine's
                // deferred deadline due again, and re-arming before that took it for a
                // deadline that does not advance (a 1 ms blocking-pool sleep per wake-up:
                // 20 000 of them in 2 M lz4 records).
                shared.service(&mut st);
                let now = shared.now();
                // Re-arm from scratch (under the lock, as senders do): the deadline may
                // have moved later.
                let mut next = st.engine.poll_timeout().map_or(NO_DEADLINE, Instant::as_nanos);
                if next <= now.as_nanos() {
                    // A deadline that does not advance must not spin the thread; tokio's
                    // coarse timer is enough for that.
                    next = now.as_nanos() + 1_000_000;
                    backstop = next;
                }
                shared.armed.store(next, Ordering::Release);
            }
        }
    }
    dispatch_inline(&shared, &mut wakes);
}

/// Sleeps until `at` to within the OS's timer precision. tokio's timer has a 1 ms
/// granularity and rounds deadlines up to the next tick, so `linger.ms` deadlines fired up to
/// 1 ms late (measured: 5 ms linger gave 6.1 ms batches at 10 k msgs/s, p99 latency +1 ms
/// over librdkafka's). So: tokio's timer until 1 ms before, then the last stretch as a plain
/// thread sleep on the runtime's blocking pool, which keeps the driver thread free meanwhile.
async fn precise_sleep_until(at: std::time::Instant, blocking_sleeps: &AtomicU64) {
    const COARSE: Duration = Duration::from_millis(1);
    if let Some(early) = at.checked_sub(COARSE) {
        if early > std::time::Instant::now() {
            tokio::time::sleep_until(early.into()).await;
        }
    }
    let left = at.saturating_duration_since(std::time::Instant::now());
    if !left.is_zero() {
        blocking_sleeps.fetch_add(1, Ordering::Relaxed);
        // Fails only if the runtime is shutting down; the driver loop then ends anyway.
        if tokio::task::spawn_blocking(move || std::thread::sleep(left))
            .await
            .is_err()
        {
            tokio::time::sleep_until(at.into()).await;
        }
    }
}

/// Dispatches the queued events, then wakes the tasks waiting on their results: only after
/// `served`, so that a task woken for a result finds its record's queue space free. Woken
/// per record as the results were filled, a task blocked on a full queue (waiting on its
/// oldest future, as a pipelining sender does) ran while the rest of the round was still
/// being filled, found the queue still full and went back to sleep, about 20 times per
/// round: 21 voluntary context switches per 1000 records against 1.3 for the BaseProducer
/// (1 KiB values, real broker, acks=all).
fn dispatch_inline<O>(shared: &Shared<O>, wakes: &mut Vec<Waker>) {
    // The driver's loop comes round on every wake-up (a `send` wakes it for each new
    // request at `linger.ms = 0`), most of them with no report waiting: looking without the
    // lock saved 2 of its 3 acquisitions here (1 partition, sink, 3 M records: 55 600).
    if shared.inline.is_none()
        || !(shared.inline_ready.load(Ordering::Relaxed)
            && shared.inline_ready.swap(false, Ordering::Acquire))
    {
        return;
    }
    let taken = Shared::take_events(&mut shared.lock());
    dispatch_taken(shared, taken, wakes);
}

/// Dispatches events taken from the queue (lock released), then tells the engine they
/// were served and wakes the tasks waiting on their results (see [`dispatch_inline`]).
pub(crate) fn dispatch_taken<O>(shared: &Shared<O>, taken: Taken<O>, wakes: &mut Vec<Waker>) {
    let (events, counts) = taken;
    if let Some(dispatch) = &shared.inline {
        for ev in events {
            // The application's callbacks (`error`, `stats`) run here, on the thread that
            // drives every connection: a panic in one must not stop the producer. The
            // reports of other events are still delivered; a delivery event's own results
            // are filled by our code, which does not panic.
            let call = std::panic::AssertUnwindSafe(|| dispatch(ev, wakes));
            if std::panic::catch_unwind(call).is_err() {
                shared.log(
                    RDKafkaLogLevel::Error,
                    "PANIC",
                    "an application callback panicked on the producer's thread; continuing",
                );
            }
        }
    }
    shared.served(counts);
    for w in wakes.drain(..) {
        w.wake();
    }
}

/// Microseconds since the Unix epoch (negative before it).
fn system_time_us() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_micros()).map_or(i64::MIN, |us| -us),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_spinning_lock_still_excludes() {
        // Short and long holds, so that waiters both win while spinning and fall back to
        // parking; a lost update would show in the total.
        let m = Arc::new(Mutex::new((0_u64, false)));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let m = Arc::clone(&m);
                std::thread::spawn(move || {
                    for i in 0..20_000_u32 {
                        let mut g = lock_spinning(&m, true);
                        assert!(!g.1, "two holders at once");
                        g.1 = true;
                        let v = g.0;
                        if i % 1000 == t {
                            std::thread::sleep(Duration::from_micros(50));
                        }
                        g.0 = v + 1;
                        g.1 = false;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(m.lock().0, 80_000);
    }

    #[test]
    fn a_lock_held_past_the_spin_is_still_taken() {
        let m = Arc::new(Mutex::new(0_u32));
        let held = m.lock();
        let waiter = {
            let m = Arc::clone(&m);
            std::thread::spawn(move || *lock_spinning(&m, true) + 1)
        };
        std::thread::sleep(LOCK_SPIN * 20);
        drop(held);
        assert_eq!(waiter.join().unwrap(), 1);
        assert!(!m.is_locked());
    }
}
