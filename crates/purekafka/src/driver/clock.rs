//! The engine's clock: nanoseconds since the producer started, read on every `send`.
//!
//! `std::time::Instant::elapsed` costs about 27 ns on a VM (a vDSO call and a `timespec`
//! subtraction); in a 100-byte, linger-5 sink run it was 13 % of the process's samples, about
//! 36 ns per record. On x86-64 Linux, when the kernel itself keeps time with the TSC (so the
//! counter is invariant and synchronised across cores), this clock reads the TSC (~10 ns)
//! and scales it instead. It calibrates without spinning: it reads the OS clock until the
//! driver's loop, coming round anyway, finds [`CALIBRATE_AFTER_NS`] passed since the first
//! reading, and then takes the counter's rate from those two readings; it refines the rate
//! every [`RECALIBRATE_NS`] of activity. (A calibrating clock such as quanta's spins for up
//! to 200 ms when the producer is created.)
//!
//! Only durations are taken from this clock: timers are converted to the OS clock when armed
//! and the wall clock is re-read every second, so it need not match `CLOCK_MONOTONIC`, only
//! advance smoothly. Every change of rate is therefore continuous: the new rate starts from
//! the instant the old one gave, with no jump.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering, fence};

use parking_lot::Mutex;

/// OS-clock time from the first reading to the first calibration (the counter's rate is
/// then known to about 2 ppm: ±30 ns in each reading over 20 ms).
const CALIBRATE_AFTER_NS: u64 = 20_000_000;
/// OS-clock time between two refinements of the rate.
const RECALIBRATE_NS: u64 = 1_000_000_000;
/// A new rate further than this (in parts per 2^16) from the previous one means the counter
/// is not a clock here (a migration, a stopped counter): the clock returns to the OS clock.
const MAX_RATE_CHANGE: u64 = 655; // 1 %
/// Widest bracket of counter ticks around an OS-clock read that still pairs the two: about
/// 20-50 µs at 2-5 GHz. A thread preempted between the reads (a VM's stolen time is
/// milliseconds) would skew the rate taken from them; such a pair is dropped and the next
/// turn tries again.
const MAX_PAIR_TICKS: u64 = 100_000;

/// The engine clock. See the module docs.
pub(crate) struct Clock {
    origin: std::time::Instant,
    /// Seqlock over the conversion: odd while the calibrating thread writes it.
    seq: AtomicU64,
    /// Counter reading at which the clock read `anchor_ns`.
    anchor_tsc: AtomicU64,
    anchor_ns: AtomicU64,
    /// Nanoseconds per counter tick, as a 32.32 fixed-point number; 0 while the OS clock is
    /// read instead (before calibration, without a usable counter, or after giving up on it).
    mult: AtomicU64,
    /// Added to the OS clock's reading while it is read (non-zero once the counter was given
    /// up, so that the clock does not jump back).
    os_offset_ns: AtomicI64,
    /// Counter reading from which the next calibration is due: 0 to compare OS-clock time
    /// instead (before the first), `u64::MAX` for never. Outside `cal`, so that a turn for
    /// which nothing is due costs one counter read and no lock.
    next_cal_tsc: AtomicU64,
    /// The calibrating side, taken by the driver's loop only: the last (counter, OS-clock ns)
    /// pair the rate was measured from.
    cal: Mutex<Option<(u64, u64)>>,
}

/// A conversion from counter ticks to clock nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Conversion {
    anchor_tsc: u64,
    anchor_ns: u64,
    mult: u64,
}

impl Conversion {
    /// Clock nanoseconds at counter reading `tsc`; a reading before the anchor (another
    /// core's counter a few ticks behind) gives the anchor.
    fn to_ns(self, tsc: u64) -> u64 {
        let ticks = u128::from(tsc.saturating_sub(self.anchor_tsc));
        let ns = (ticks * u128::from(self.mult)) >> 32;
        self.anchor_ns
            .saturating_add(u64::try_from(ns).unwrap_or(u64::MAX))
    }

    /// The rate (32.32 ns per tick) between two (counter, OS ns) readings, if they advanced.
    fn rate(from: (u64, u64), to: (u64, u64)) -> Option<u64> {
        let ticks = to.0.checked_sub(from.0).filter(|t| *t > 0)?;
        let ns = to.1.checked_sub(from.1).filter(|n| *n > 0)?;
        u64::try_from((u128::from(ns) << 32) / u128::from(ticks))
            .ok()
            .filter(|m| *m > 0)
    }
}

/// The pair of an OS-clock reading `os` and the counter's midpoint around it, if the
/// counter readings `before` and `after` bracket it within [`MAX_PAIR_TICKS`].
fn pair(before: u64, os: u64, after: u64) -> Option<(u64, u64)> {
    let gap = after.checked_sub(before).filter(|g| *g <= MAX_PAIR_TICKS)?;
    Some((before + gap / 2, os))
}

/// Reads the time-stamp counter, where this clock may use it.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn read_tsc() -> u64 {
    safe_arch::read_timestamp_counter()
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn read_tsc() -> u64 {
    0
}

/// Whether the kernel keeps time with the TSC: it checks that the counter is invariant and
/// synchronised across CPUs, and switches away from it when it is not.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn tsc_usable() -> bool {
    std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
        .is_ok_and(|s| s.trim() == "tsc")
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn tsc_usable() -> bool {
    false
}

impl Clock {
    /// A clock reading 0 now.
    pub(crate) fn new() -> Self {
        Self::with_counter(tsc_usable())
    }

    fn with_counter(usable: bool) -> Self {
        // The start pair: the OS clock's origin and the counter then, bracketed like
        // `read_pair`'s (a few tries; without a tight pair the counter is not used).
        let mut origin = std::time::Instant::now();
        let mut start = None;
        if usable {
            for _ in 0..3 {
                let before = read_tsc();
                origin = std::time::Instant::now();
                start = pair(before, 0, read_tsc());
                if start.is_some() {
                    break;
                }
            }
        }
        Self {
            origin,
            seq: AtomicU64::new(0),
            anchor_tsc: AtomicU64::new(0),
            anchor_ns: AtomicU64::new(0),
            mult: AtomicU64::new(0),
            os_offset_ns: AtomicI64::new(0),
            next_cal_tsc: AtomicU64::new(if start.is_some() { 0 } else { u64::MAX }),
            cal: Mutex::new(start),
        }
    }

    /// The clock's start, on the OS clock.
    pub(crate) fn origin(&self) -> std::time::Instant {
        self.origin
    }

    /// Nanoseconds since the clock's start.
    #[inline]
    pub(crate) fn now_ns(&self) -> u64 {
        match self.conversion() {
            Some(c) => c.to_ns(read_tsc()),
            None => self.os_ns(),
        }
    }

    /// The OS clock's reading, shifted by the offset kept when the counter was given up.
    fn os_ns(&self) -> u64 {
        let ns = u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
        ns.saturating_add_signed(self.os_offset_ns.load(Ordering::Relaxed))
    }

    /// The published conversion, or `None` to read the OS clock (also while it is being
    /// rewritten: the OS clock is always right, only slower).
    #[inline]
    fn conversion(&self) -> Option<Conversion> {
        let s1 = self.seq.load(Ordering::Acquire);
        let c = Conversion {
            anchor_tsc: self.anchor_tsc.load(Ordering::Relaxed),
            anchor_ns: self.anchor_ns.load(Ordering::Relaxed),
            mult: self.mult.load(Ordering::Relaxed),
        };
        fence(Ordering::Acquire);
        let s2 = self.seq.load(Ordering::Relaxed);
        (s1 == s2 && s1 & 1 == 0 && c.mult != 0).then_some(c)
    }

    fn publish(&self, c: Conversion) {
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        self.anchor_tsc.store(c.anchor_tsc, Ordering::Relaxed);
        self.anchor_ns.store(c.anchor_ns, Ordering::Relaxed);
        self.mult.store(c.mult, Ordering::Relaxed);
        self.seq.store(s.wrapping_add(2), Ordering::Release);
    }

    /// Calibrates the counter when due; the driver's loop calls it on every turn. Costs a
    /// counter read when not due.
    pub(crate) fn calibrate(&self) {
        let next = self.next_cal_tsc.load(Ordering::Relaxed);
        if next == u64::MAX || (next != 0 && read_tsc() < next) {
            return;
        }
        let Some(mut last) = self.cal.try_lock() else {
            return;
        };
        // Given up meanwhile by the holder of the lock.
        if self.next_cal_tsc.load(Ordering::Relaxed) == u64::MAX {
            return;
        }
        if let Some((tsc, os)) = self.read_pair() {
            self.calibrate_at(&mut last, tsc, os);
        }
    }

    /// A (counter, OS-clock ns since `origin`) pair read together: the counter's midpoint
    /// around the OS read, or `None` if the reads were too far apart.
    fn read_pair(&self) -> Option<(u64, u64)> {
        let before = read_tsc();
        let os = u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
        pair(before, os, read_tsc())
    }

    /// One calibration round at the reading pair (`tsc`, `os` ns since `origin`).
    fn calibrate_at(&self, cal: &mut Option<(u64, u64)>, tsc: u64, os: u64) {
        let Some(last) = *cal else {
            *cal = Some((tsc, os));
            return;
        };
        let old = self.conversion();
        let due = if old.is_some() {
            RECALIBRATE_NS
        } else {
            CALIBRATE_AFTER_NS
        };
        if os.saturating_sub(last.1) < due {
            return;
        }
        let rate = Conversion::rate(last, (tsc, os));
        let sane = match (rate, old) {
            (Some(new), Some(old)) => new.abs_diff(old.mult) <= (old.mult >> 16) * MAX_RATE_CHANGE,
            (Some(_), None) => true,
            (None, _) => false,
        };
        match rate.filter(|_| sane) {
            Some(mult) => {
                // Continuous: the new rate starts where the old one (or the OS clock) is now.
                let anchor_ns = old.map_or(os, |c| c.to_ns(tsc));
                self.publish(Conversion {
                    anchor_tsc: tsc,
                    anchor_ns,
                    mult,
                });
                *cal = Some((tsc, os));
                let ticks_per_recal = (u128::from(RECALIBRATE_NS) << 32) / u128::from(mult);
                let next = tsc.saturating_add(u64::try_from(ticks_per_recal).unwrap_or(0));
                self.next_cal_tsc.store(next, Ordering::Relaxed);
            }
            None => {
                // The counter went back or changed pace: read the OS clock from now on,
                // shifted so that the clock continues from where the counter left it.
                let here = old.map_or(os, |c| c.to_ns(tsc));
                let offset = i64::try_from(i128::from(here) - i128::from(os)).unwrap_or(0);
                self.os_offset_ns.store(offset, Ordering::Relaxed);
                self.publish(Conversion {
                    anchor_tsc: 0,
                    anchor_ns: 0,
                    mult: 0,
                });
                self.next_cal_tsc.store(u64::MAX, Ordering::Relaxed);
                tracing::warn!(
                    "the TSC does not advance steadily; the producer reads the OS clock"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GHZ_3: u64 = 3;

    fn clock() -> Clock {
        Clock::with_counter(true)
    }

    /// Drives the calibration with synthetic readings: a 3 GHz counter.
    fn cal_at(c: &Clock, tsc: u64, os: u64) {
        let mut cal = c.cal.lock();
        cal.get_or_insert((0, 0));
        c.calibrate_at(&mut cal, tsc, os);
    }

    #[test]
    fn reads_the_os_clock_until_calibrated_then_the_counter_at_its_rate() {
        let c = clock();
        *c.cal.lock() = Some((0, 0));
        assert_eq!(c.conversion(), None);
        // Too early: still the OS clock.
        cal_at(&c, 10_000_000 * GHZ_3, 10_000_000);
        assert_eq!(c.conversion(), None);
        cal_at(&c, 20_000_000 * GHZ_3, 20_000_000);
        let conv = c.conversion().expect("calibrated");
        assert_eq!(conv.to_ns(20_000_000 * GHZ_3), 20_000_000);
        // The next round is due a second of ticks later.
        let next = c.next_cal_tsc.load(Ordering::Relaxed);
        assert!(next.abs_diff(1_020_000_000 * GHZ_3) <= GHZ_3, "{next}");
        // One second of ticks later: one second later, within a nanosecond per second of
        // fixed-point rounding.
        let later = conv.to_ns(1_020_000_000 * GHZ_3);
        assert!(later.abs_diff(1_020_000_000) <= 1, "{later}");
        // A reading from a core a little behind the anchor gives the anchor, not less.
        assert_eq!(conv.to_ns(20_000_000 * GHZ_3 - 5), 20_000_000);
    }

    #[test]
    fn a_new_rate_starts_where_the_old_one_is() {
        let c = clock();
        *c.cal.lock() = Some((0, 0));
        cal_at(&c, 60_000_000, 20_000_000); // 3 ticks per ns
        let before = c.conversion().expect("calibrated");
        // The OS clock says the counter ran 0.1 % slower than measured.
        let tsc = 60_000_000 + 3_000_000_000;
        let os = 20_000_000 + 1_001_000_000;
        cal_at(&c, tsc, os);
        let after = c.conversion().expect("still calibrated");
        assert!(after.mult > before.mult);
        assert_eq!(after.to_ns(tsc), before.to_ns(tsc), "no jump at the change");
        assert!(after.to_ns(tsc + 3_000) > after.to_ns(tsc));
    }

    #[test]
    fn a_counter_that_changes_pace_is_given_up_without_a_jump_back() {
        let c = clock();
        *c.cal.lock() = Some((0, 0));
        cal_at(&c, 60_000_000, 20_000_000);
        let conv = c.conversion().expect("calibrated");
        // Twice as many ticks per second as measured: not a clock.
        let tsc = 60_000_000 + 6_000_000_000;
        let os = 20_000_000 + 1_000_000_000;
        let here = conv.to_ns(tsc);
        cal_at(&c, tsc, os);
        assert_eq!(c.conversion(), None);
        assert_eq!(
            c.next_cal_tsc.load(Ordering::Relaxed),
            u64::MAX,
            "no more rounds"
        );
        assert_eq!(
            c.next_cal_tsc.load(Ordering::Relaxed),
            u64::MAX,
            "no more rounds"
        );
        assert_eq!(
            c.os_offset_ns.load(Ordering::Relaxed),
            here as i64 - os as i64
        );
        // A counter that went back is given up too.
        let c = clock();
        *c.cal.lock() = Some((1_000, 0));
        cal_at(&c, 500, 30_000_000);
        assert_eq!(c.conversion(), None);
        assert_eq!(
            c.next_cal_tsc.load(Ordering::Relaxed),
            u64::MAX,
            "no more rounds"
        );
    }

    #[test]
    fn a_pair_is_only_taken_from_a_tight_bracket() {
        assert_eq!(pair(1_000, 7, 1_100), Some((1_050, 7)));
        // Preempted between the reads: dropped, as is a counter that went back.
        assert_eq!(pair(1_000, 7, 1_000 + MAX_PAIR_TICKS + 1), None);
        assert_eq!(pair(1_000, 7, 999), None);
    }

    #[test]
    fn the_real_clock_advances_with_the_os_clock() {
        let c = Clock::new();
        let mut last = c.now_ns();
        let os_start = c.origin().elapsed();
        let start = last;
        // Calibrate on the way, as the driver's loop does, and check that the clock never
        // goes back on this thread and keeps pace with the OS clock.
        let until = std::time::Instant::now() + std::time::Duration::from_millis(60);
        while std::time::Instant::now() < until {
            c.calibrate();
            for _ in 0..1000 {
                let n = c.now_ns();
                assert!(n >= last, "went back from {last} to {n}");
                last = n;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let os = c.origin().elapsed() - os_start;
        let ours = std::time::Duration::from_nanos(c.now_ns() - start);
        let diff = os.abs_diff(ours);
        // Generous: the two reads are not simultaneous and the test may be descheduled.
        assert!(
            diff < std::time::Duration::from_millis(2),
            "{os:?} against {ours:?}"
        );
        if tsc_usable() {
            assert!(c.conversion().is_some(), "calibrated after 60 ms of turns");
        }
    }
}
