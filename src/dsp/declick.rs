//! Declicker: clicks and pops found as outliers of an autoregressive model's prediction
//! error, and rebuilt by LSAR interpolation (see [`crate::dsp::interpolate`]).
//!
//! A click at sample n makes the forward prediction error jump from n on for p samples
//! and the backward error up to n from p samples before; only where both are far above
//! their robust level (median absolute value) is a sample marked. Music's own attacks
//! are predicted badly forwards but well backwards (the note goes on), so they are left
//! alone. Unmarked samples pass through bit-exact.

use crate::dsp::Processor;
use crate::dsp::interpolate::{CONTEXT, Damage, GapRepair, LATENCY, ar_fit};

/// Order of the detection model.
const DETECT_ORDER: usize = 20;
/// Samples marked before a detected run (a click's onset is sharp, seen to a sample or two).
const DILATE_BEFORE: usize = 2;
/// Samples marked after a detected run: a click that decays into the music hides its end
/// under the threshold, and a damaged sample left at the edge of the gap spoils the rebuild.
const DILATE_AFTER: usize = 12;
/// Widest click looked for, samples.
const MAX_WIDTH: usize = 32;
const _: () = assert!(CONTEXT / 2 > MAX_WIDTH + DETECT_ORDER + DILATE_AFTER);

/// Marks outliers of the AR prediction error.
#[derive(Debug, Clone)]
pub struct ClickDamage {
    threshold: f64,
    found: u64,
}

impl Damage for ClickDamage {
    fn detect(&mut self, x: &[f64], lo: usize, hi: usize, mask: &mut [bool]) {
        let w_lo = lo - CONTEXT / 2;
        let w_hi = hi + CONTEXT / 2;
        let win = &x[w_lo..w_hi];
        let known: Vec<bool> = mask[w_lo..w_hi].iter().map(|m| !m).collect();
        let Some(a) = ar_fit(win, &known, DETECT_ORDER) else {
            return;
        };
        let p = a.len() - 1;
        let fwd = |n: usize| -> f64 { (0..=p).map(|k| a[k] * x[n - k]).sum() };
        let bwd = |n: usize| -> f64 { (0..=p).map(|k| a[k] * x[n + k]).sum() };
        // Errors over the frame and MAX_WIDTH either side, so runs across its edges are seen.
        let (e_lo, e_hi) = (lo - MAX_WIDTH, hi + MAX_WIDTH);
        let ef: Vec<f64> = (e_lo..e_hi).map(fwd).collect();
        let eb: Vec<f64> = (e_lo..e_hi).map(bwd).collect();
        let level = |e: &[f64]| {
            let mut v: Vec<f64> = e.iter().map(|x| x.abs()).collect();
            v.sort_by(f64::total_cmp);
            1.4826 * v[v.len() / 2]
        };
        let (sf, sb) = (level(&ef), level(&eb));
        if !(sf > 1e-12 && sb > 1e-12) {
            return;
        }
        let f: Vec<bool> = ef.iter().map(|e| e.abs() > self.threshold * sf).collect();
        let b: Vec<bool> = eb.iter().map(|e| e.abs() > self.threshold * sb).collect();
        // A click [n0, n1] starts the forward error at n0 and the backward error at n0−1 or
        // later; where both are up (at the same or neighbouring samples) lies inside it.
        // From each such seed the run reaches from the first to the last outlier of either
        // kind nearby.
        let mut i = MAX_WIDTH;
        while i < MAX_WIDTH + (hi - lo) {
            if !(f[i] && (b[i] || b[i - 1])) {
                i += 1;
                continue;
            }
            // Generous on purpose: a sample rebuilt needlessly costs little, a damaged one
            // left at the edge of the run spoils the rebuild.
            let either = |k: usize| f[k] || b[k];
            let start = (i - MAX_WIDTH..=i).find(|&k| either(k)).unwrap_or(i);
            let end = (i..=i + MAX_WIDTH).rev().find(|&k| either(k)).unwrap_or(i);
            for m in &mut mask[e_lo + start - DILATE_BEFORE..=e_lo + end + DILATE_AFTER] {
                *m = true;
            }
            self.found += 1;
            i = end + 1;
        }
    }

    fn reset(&mut self) {
        self.found = 0;
    }
}

/// A streaming declicker with a fixed latency of [`LATENCY`] frames.
pub struct Declicker {
    inner: GapRepair<ClickDamage>,
}

impl Declicker {
    /// Default sensitivity: a sample is a click where both prediction errors exceed this
    /// many robust standard deviations.
    pub const DEFAULT_THRESHOLD: f64 = 10.0;

    /// A declicker for `channels` interleaved channels at the given `threshold` (see
    /// [`Declicker::DEFAULT_THRESHOLD`]; lower finds more).
    pub fn new(channels: usize, threshold: f64) -> Self {
        Declicker {
            inner: GapRepair::new(
                channels,
                ClickDamage {
                    threshold,
                    found: 0,
                },
            ),
        }
    }

    /// Clicks found so far (runs of marked samples, all channels).
    pub fn clicks(&self) -> u64 {
        self.inner.damage().found
    }

    /// Samples rebuilt so far.
    pub fn rebuilt(&self) -> u64 {
        self.inner.rebuilt()
    }
}

impl Processor for Declicker {
    fn reset(&mut self) {
        self.inner.reset();
    }

    /// The detector adapts to the signal, not the rate; only the state is cleared.
    fn set_sample_rate(&mut self, _rate: f64) {
        self.inner.reset();
    }

    fn process(&mut self, block: &mut [f32]) {
        self.inner.process(block);
    }

    fn latency(&self) -> usize {
        LATENCY
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::testsig::*;

    const RATE: f64 = 44_100.0;

    /// Harmonic notes with 5 ms attacks every 0.4 s over a little noise.
    fn music(n: usize, rng: &mut Rng) -> Vec<f64> {
        let mut y = rng.noise(n, 0.001);
        let note_len = (RATE * 0.4) as usize;
        for (k, start) in (0..n).step_by(note_len).enumerate() {
            let f0 = [130.8, 164.8, 196.0, 261.6, 329.6][k % 5];
            let partials = (1..=6).map(|h| Partial {
                harmonic: h,
                amp: 0.15 / h as f64,
                decay: 3.0 + h as f64,
                phase: rng.uniform() * 3.0,
            });
            add_note(&mut y, RATE, (start, 2 * note_len), f0, partials);
        }
        y
    }

    fn through(d: &mut Declicker, x: &[f64]) -> Vec<f64> {
        let mut padded = x.to_vec();
        padded.extend(std::iter::repeat_n(0.0, LATENCY));
        run(d, &padded, 500)[LATENCY..].to_vec()
    }

    #[test]
    fn clicks_are_found_and_rebuilt() {
        let mut rng = Rng(21);
        let n = (RATE * 4.0) as usize;
        let clean = music(n, &mut rng);
        let mut x = clean.clone();
        let mut at = Vec::new();
        for k in 0..40 {
            let pos = 3000 + k * (n - 6000) / 40 + (rng.uniform().abs() * 500.0) as usize;
            let width = 1 + (rng.uniform().abs() * 8.0) as usize;
            let amp = (0.1 + 0.3 * rng.uniform().abs()) * rng.uniform().signum();
            for i in 0..width {
                x[pos + i] += amp * (1.0 - i as f64 / width as f64);
                at.push(pos + i);
            }
        }
        let mut d = Declicker::new(1, Declicker::DEFAULT_THRESHOLD);
        let y = through(&mut d, &x);
        let err = |v: &[f64]| at.iter().map(|&i| (v[i] - clean[i]).powi(2)).sum::<f64>();
        let gain = 10.0 * (err(&x) / err(&y)).log10();
        assert!(gain >= 20.0, "click energy lowered by {gain:.1} dB");
        assert!(
            d.clicks() >= 38 && d.clicks() <= 44,
            "{} clicks found",
            d.clicks()
        );
    }

    #[test]
    fn music_without_clicks_passes_bit_exact() {
        let mut rng = Rng(8);
        let x = music((RATE * 4.0) as usize, &mut rng);
        let mut d = Declicker::new(1, Declicker::DEFAULT_THRESHOLD);
        let y = through(&mut d, &x);
        assert_eq!(d.clicks(), 0);
        assert!(y.iter().zip(&x).all(|(a, b)| *a == *b as f32 as f64));
    }
}
