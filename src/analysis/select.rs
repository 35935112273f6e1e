//! Exact order statistics (a median, a percentile) of values too many to hold, where they
//! can be read again: a per-track curve on disk, read once per pass.
//!
//! Method: radix selection on the values' order keys (the bit pattern that sorts like
//! [`f64::total_cmp`]), one byte per pass from the top, so eight passes find the value of
//! any rank exactly, with 256 counters per column in memory. The result is the value a
//! sort would put at that rank, bit for bit: the same decisions as sorting the whole curve.

/// Finds the value of a given rank in each of several columns of values streamed in
/// passes: feed every value of every column with [`Select::feed`], call
/// [`Select::end_pass`], and again while [`Select::done`] is false; then [`Select::values`].
/// Each pass must feed the same values (in any order).
pub struct Select {
    /// Per column: the rank still sought among the values that match `prefix`.
    rank: Vec<u64>,
    /// Per column: the key bits found so far (above `shift + 8`).
    prefix: Vec<u64>,
    /// Per column: how many values fell on each value of the current byte.
    counts: Vec<[u64; 256]>,
    /// Bit position of the byte counted in this pass; `None` when done.
    shift: Option<u32>,
}

/// The key that orders like [`f64::total_cmp`]: negative values with every bit flipped,
/// others with the sign bit set.
fn key(v: f64) -> u64 {
    let b = v.to_bits();
    if b >> 63 == 1 { !b } else { b | 1 << 63 }
}

fn value(key: u64) -> f64 {
    f64::from_bits(if key >> 63 == 1 {
        key & !(1 << 63)
    } else {
        !key
    })
}

impl Select {
    /// Seeks, in column `c`, the value of 0-based rank `ranks[c]` (the smallest is rank 0).
    /// Every column must get more than its rank values per pass.
    pub fn new(ranks: Vec<u64>) -> Select {
        let n = ranks.len();
        Select {
            rank: ranks,
            prefix: vec![0; n],
            counts: vec![[0; 256]; n],
            shift: Some(56),
        }
    }

    /// Whether every rank is found.
    pub fn done(&self) -> bool {
        self.shift.is_none()
    }

    /// Adds a value of column `c` to this pass.
    pub fn feed(&mut self, c: usize, v: f64) {
        let Some(shift) = self.shift else { return };
        let k = key(v);
        // Only the values that share the bits found so far are candidates.
        if shift == 56 || (k >> (shift + 8)) == self.prefix[c] >> (shift + 8) {
            self.counts[c][((k >> shift) & 0xff) as usize] += 1;
        }
    }

    /// Closes a pass: the byte of each sought value is where its column's counts reach its
    /// rank.
    pub fn end_pass(&mut self) {
        let Some(shift) = self.shift else { return };
        for c in 0..self.rank.len() {
            let mut below = 0u64;
            let byte = (0..256)
                .find(|&d| {
                    if below + self.counts[c][d] > self.rank[c] {
                        true
                    } else {
                        below += self.counts[c][d];
                        false
                    }
                })
                .expect("a column fed fewer values than its rank");
            self.prefix[c] |= (byte as u64) << shift;
            self.rank[c] -= below;
            self.counts[c] = [0; 256];
        }
        self.shift = shift.checked_sub(8);
    }

    /// The value found in each column.
    pub fn values(&self) -> Vec<f64> {
        debug_assert!(self.done(), "passes still to run");
        self.prefix.iter().map(|&k| value(k)).collect()
    }
}

/// Runs the passes of a [`Select`] with `ranks` over the values that `pass` hands to its
/// feeder (`(column, value)`), calling it once per pass; the values found.
pub fn select<E>(
    ranks: Vec<u64>,
    mut pass: impl FnMut(&mut dyn FnMut(usize, f64)) -> Result<(), E>,
) -> Result<Vec<f64>, E> {
    let mut s = Select::new(ranks);
    while !s.done() {
        pass(&mut |c, v| s.feed(c, v))?;
        s.end_pass();
    }
    Ok(s.values())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::testsig::Rng;

    #[test]
    fn finds_what_a_sort_finds_bit_for_bit() {
        let mut rng = Rng(0x5e1ec7);
        // Two columns: mixed signs, zeros of both signs, ties, tiny and huge values.
        let mut cols: Vec<Vec<f64>> = vec![Vec::new(), Vec::new()];
        for i in 0..5000 {
            let u = rng.uniform() - 0.5;
            cols[0].push(match i % 7 {
                0 => 0.0,
                1 => -0.0,
                2 => 1.25,
                3 => u * 1e-300,
                _ => u * 1e6,
            });
            cols[1].push((u as f32) as f64 * 3.0);
        }
        for q in [0.0, 0.1, 0.5, 0.95, 0.99, 1.0] {
            let ranks: Vec<u64> = cols
                .iter()
                .map(|c| ((c.len() - 1) as f64 * q).round() as u64)
                .collect();
            let found = select::<()>(ranks.clone(), |feed| {
                // Any order within a pass.
                for (c, col) in cols.iter().enumerate() {
                    col.iter().rev().for_each(|&v| feed(c, v));
                }
                Ok(())
            })
            .unwrap();
            for (c, col) in cols.iter().enumerate() {
                let mut sorted = col.clone();
                sorted.sort_by(f64::total_cmp);
                let want = sorted[ranks[c] as usize];
                assert_eq!(found[c].to_bits(), want.to_bits(), "q {q} column {c}");
            }
        }
    }

    #[test]
    fn keys_order_like_total_cmp() {
        let v = [
            -f64::INFINITY,
            -2.0,
            -1e-310,
            -0.0,
            0.0,
            1e-310,
            3.0,
            f64::INFINITY,
        ];
        for w in v.windows(2) {
            assert!(key(w[0]) < key(w[1]), "{} {}", w[0], w[1]);
        }
        for x in v {
            assert_eq!(value(key(x)).to_bits(), x.to_bits());
        }
    }
}
