//! A small log-linear latency histogram (HDR-style) in nanoseconds.
//!
//! Values below 128 ns get a bucket each; above, every power of two is cut
//! into 64 equal buckets, so a recorded value is known to within 1/64
//! (≈1.6 %). The exact minimum and maximum are kept beside the buckets.
//! Counters are allocated on the first record, so an idle client costs
//! nothing; histograms of many clients are merged at the end of a run.
//! Why not the `hdrhistogram` crate: one histogram per subscriber at three
//! significant figures is ~100 KB each, which 1000 subscribers cannot afford.

const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS; // 64 buckets per power of two
/// Values are clamped to 2^41 ns (~36 minutes).
const MAX_EXP: u32 = 41;
const BUCKETS: usize = ((MAX_EXP - SUB_BITS + 1) as usize) * SUB as usize + SUB as usize;

#[derive(Clone, Default)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    min: u64,
    max: u64,
    sum: u128,
}

fn index(v: u64) -> usize {
    if v < 2 * SUB {
        return v as usize;
    }
    let e = 63 - v.leading_zeros();
    let e = e.min(MAX_EXP);
    let v = v.min((1u64 << (MAX_EXP + 1)) - 1);
    let top = v >> (e - SUB_BITS); // in [64, 128)
    ((e - SUB_BITS) as u64 * SUB + top) as usize
}

/// The lowest and highest value that land in bucket `i`.
fn bounds(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < 2 * SUB {
        return (i, i);
    }
    let shift = (i / SUB - 1) as u32;
    let top = i - (i / SUB - 1) * SUB; // back to [64, 128)
    let lo = top << shift;
    (lo, lo + (1u64 << shift) - 1)
}

impl Histogram {
    pub fn new() -> Self {
        Self::default()
    }

    #[inline]
    pub fn record(&mut self, v: u64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS];
            self.min = u64::MAX;
        }
        self.counts[index(v)] += 1;
        self.total += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sum += v as u128;
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    pub fn min(&self) -> u64 {
        if self.total == 0 {
            0
        } else {
            self.min
        }
    }

    pub fn mean(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum as f64 / self.total as f64
        }
    }

    pub fn merge(&mut self, other: &Histogram) {
        if other.total == 0 {
            return;
        }
        if self.counts.is_empty() {
            *self = other.clone();
            return;
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
    }

    /// The value at quantile `q` (0.0..=1.0): the upper edge of the bucket
    /// holding that rank, capped by the exact maximum. 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bounds(i).1.min(self.max).max(self.min);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_contain_their_values() {
        let mut prev_hi = None;
        for i in 0..BUCKETS {
            let (lo, hi) = bounds(i);
            if let Some(p) = prev_hi {
                assert_eq!(lo, p + 1, "bucket {i}");
            }
            assert_eq!(index(lo), i);
            assert_eq!(index(hi), i);
            prev_hi = Some(hi);
        }
    }

    #[test]
    fn relative_error_is_bounded() {
        for v in [1u64, 127, 128, 129, 1000, 12_345, 1_000_000, 987_654_321] {
            let (lo, hi) = bounds(index(v));
            assert!(lo <= v && v <= hi);
            assert!((hi - lo) as f64 <= v as f64 / 63.0 + 1.0, "{v}: {lo}..{hi}");
        }
    }

    #[test]
    fn quantiles_and_merge() {
        let mut a = Histogram::new();
        let mut b = Histogram::new();
        for v in 1..=1000u64 {
            if v % 2 == 0 {
                a.record(v * 1000)
            } else {
                b.record(v * 1000)
            }
        }
        a.merge(&b);
        assert_eq!(a.count(), 1000);
        assert_eq!(a.max(), 1_000_000);
        assert_eq!(a.min(), 1000);
        let p50 = a.quantile(0.5) as f64;
        assert!((p50 - 500_000.0).abs() / 500_000.0 < 0.02, "{p50}");
        let p99 = a.quantile(0.99) as f64;
        assert!((p99 - 990_000.0).abs() / 990_000.0 < 0.02, "{p99}");
        assert_eq!(a.quantile(1.0), 1_000_000);
        assert_eq!(Histogram::new().quantile(0.5), 0);
    }
}
