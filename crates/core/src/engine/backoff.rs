//! Exponential backoff with jitter (KIP-580), from the engine's seeded [`Rng`].

use core::time::Duration;

use crate::rng::Rng;

/// `base * 2^attempt`, capped at `max`, then scaled by a uniform factor in [0.8, 1.2)
/// (KIP-580's ±20 %) and capped at `max` again. `attempt` 0 is the first retry.
pub(crate) fn backoff(base: Duration, max: Duration, attempt: u32, rng: &mut Rng) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.min(20));
    let capped = exp.min(max.max(base));
    let factor = 0.8 + 0.4 * rng.unit_f64();
    capped.mul_f64(factor).min(max.max(base))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_caps_within_jitter() {
        let mut rng = Rng::new(7);
        let base = Duration::from_millis(100);
        let max = Duration::from_millis(1000);
        for attempt in 0..8 {
            let d = backoff(base, max, attempt, &mut rng);
            let nominal = (100u64 << attempt).min(1000);
            let lo = Duration::from_millis(nominal * 8 / 10);
            let hi = Duration::from_millis((nominal * 12 / 10).min(1000));
            assert!(
                d >= lo && d <= hi,
                "attempt {attempt}: {d:?} not in {lo:?}..={hi:?}"
            );
        }
    }
}
