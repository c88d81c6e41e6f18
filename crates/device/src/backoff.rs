//! Reconnect delays: exponential, capped, with full jitter (AWS's
//! recommendation for fleets, so devices that lost the broker together do
//! not come back together). Pure: the random numbers come from the caller.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Backoff {
        Backoff {
            base,
            max,
            attempt: 0,
        }
    }

    /// The next delay: uniform in [0, min(max, base · 2^attempt)], scaled
    /// by `random` in [0, 1).
    pub fn next_delay(&mut self, random: f64) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        ceiling.mul_f64(random.clamp(0.0, 1.0))
    }

    /// After a connection that held: start again from `base`.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(Duration::from_secs(1), Duration::from_secs(120))
    }
}

/// A random number in [0, 1) without a dependency: the low bits of the
/// clock mixed (splitmix64). Jitter only needs devices to differ.
pub fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut z = nanos
        .wrapping_add(u64::from(std::process::id()) << 32)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap_and_stay_within_it() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        let top: Vec<u64> = (0..8).map(|_| b.next_delay(0.999_999).as_secs()).collect();
        assert_eq!(top, vec![0, 1, 3, 7, 15, 29, 29, 29]);
        assert_eq!(b.next_delay(0.0), Duration::ZERO);
        b.reset();
        assert!(b.next_delay(0.5) <= Duration::from_millis(500));
        // Many attempts never overflow.
        for _ in 0..100 {
            assert!(b.next_delay(1.0) <= Duration::from_secs(30));
        }
    }

    #[test]
    fn jitter_is_in_range() {
        for _ in 0..100 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j));
        }
    }
}
