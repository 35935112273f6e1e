//! Tempo in beats per minute, from an onset-strength curve ([`super::onset`]): for
//! tempo-synced delays and for the report.
//!
//! Method (after Ellis 2007, "Beat tracking by dynamic programming", and Scheirer's comb
//! filters): the onset curve minus its local mean (0.5 s), half-wave rectified, is
//! autocorrelated; each candidate tempo from [`MIN_BPM`] to [`MAX_BPM`] (0.05 BPM steps) is
//! scored by a comb, the mean of the normalised autocorrelation at 1, 2, 3 and 4 beat
//! periods (linear interpolation between lags), times a log-normal prior centred on
//! [`PRIOR_CENTRE_BPM`] with a standard deviation of [`PRIOR_OCTAVES`]. The prior settles
//! the octave ambiguity (a 70 BPM song also repeats every 140 BPM half-beat) in favour of
//! 80–160 BPM, where most songs are counted; songs outside it are often read an octave off.
//!
//! The strength is the comb score itself (0…1): near 1 for a click track, near 0 for audio
//! without a pulse.
//!
//! A song's tempo comes from the sum of its tracks' onset curves ([`song_envelope`]), each
//! scaled to unit mean so a quiet hi-hat counts as much as a loud pad.

use std::collections::VecDeque;
use std::io;

use serde::{Deserialize, Serialize};

use super::onset::Onset;
use crate::io::spool::{CURVE_BLOCK, Curve, CurveWriter, StoreBlocks};

/// Slowest tempo considered, BPM.
pub const MIN_BPM: f64 = 40.0;
/// Fastest tempo considered, BPM.
pub const MAX_BPM: f64 = 240.0;
/// Centre of the tempo prior (the geometric mean of 80 and 160), BPM.
pub const PRIOR_CENTRE_BPM: f64 = 113.0;
/// Standard deviation of the tempo prior, octaves.
pub const PRIOR_OCTAVES: f64 = 0.5;
/// Beat periods the comb looks at.
const HARMONICS: usize = 4;
/// Window of the local mean removed from the onset curve, seconds.
const DETREND_S: f64 = 0.5;
/// Step of the tempo search, BPM.
const STEP_BPM: f64 = 0.05;
/// Shortest onset curve that can hold a tempo: a few beats at the slowest tempo.
const MIN_SECONDS: f64 = 4.0 * HARMONICS as f64 * 60.0 / MIN_BPM / 2.0;

/// A tempo estimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Tempo {
    /// Beats per minute.
    pub bpm: f64,
    /// How clearly the onsets repeat at that tempo, 0…1.
    pub strength: f64,
}

/// Estimates the tempo of an onset curve sampled every `hop_s` seconds. `None` when the
/// curve is too short or holds no onsets. Fails only when the curve cannot be read back.
///
/// Streams the curve from disk twice (the detrended curve's mean, then its autocorrelation):
/// memory holds the detrending window and [`HARMONICS`] beats at the slowest tempo of the
/// curve (~600 values), not the song. The sums run in the order the whole-curve formulas
/// would take them, so the result is the same to the bit.
pub fn estimate(flux: &Curve, hop_s: f64) -> io::Result<Option<Tempo>> {
    let n = flux.len();
    if hop_s <= 0.0 || (n as f64) * hop_s < MIN_SECONDS {
        return Ok(None);
    }
    let window = (DETREND_S / hop_s).round() as usize;
    let max_lag = ((HARMONICS as f64 * 60.0 / MIN_BPM / hop_s).ceil() as usize + 2).min(n / 2);
    let r = autocorrelation(flux, window, max_lag)?;
    if r[0].partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return Ok(None);
    }
    let at = |lag: f64| -> f64 {
        let i = lag.floor() as usize;
        if i + 1 >= r.len() {
            return 0.0;
        }
        let f = lag - i as f64;
        (r[i] * (1.0 - f) + r[i + 1] * f) / r[0]
    };
    let comb = |bpm: f64| -> f64 {
        let period = 60.0 / bpm / hop_s;
        (1..=HARMONICS).map(|k| at(k as f64 * period)).sum::<f64>() / HARMONICS as f64
    };
    let prior = |bpm: f64| {
        let octaves = (bpm / PRIOR_CENTRE_BPM).log2() / PRIOR_OCTAVES;
        (-0.5 * octaves * octaves).exp()
    };
    let steps = ((MAX_BPM - MIN_BPM) / STEP_BPM).round() as usize;
    let mut best: Option<(f64, f64)> = None;
    for i in 0..=steps {
        let bpm = MIN_BPM + i as f64 * STEP_BPM;
        let score = comb(bpm) * prior(bpm);
        if best.is_none_or(|(_, s)| score > s) {
            best = Some((bpm, score));
        }
    }
    let Some((bpm, score)) = best else {
        return Ok(None);
    };
    Ok((score > 0.0).then(|| Tempo {
        // The grid's own precision: no float noise in JSON.
        bpm: (bpm * 100.0).round() / 100.0,
        strength: comb(bpm).clamp(0.0, 1.0),
    }))
}

/// Unbiased autocorrelation (each lag divided by its number of products), lags
/// `0..=max_lag` (under half the curve's length), of the detrended curve ([`detrend`]) with
/// its mean removed. Two passes over the curve: the mean, then the lagged products as the
/// values go by. Sums start from −0.0 (as `Iterator::sum` does) and run in index order, so
/// the figures equal the whole-curve sums to the bit.
fn autocorrelation(flux: &Curve, window: usize, max_lag: usize) -> io::Result<Vec<f64>> {
    let n = flux.len();
    // Pass 1: the mean of the rectified curve (from −0.0, as `Iterator::sum` starts).
    let mut total = -0.0f64;
    detrend(flux, window, |y| total += y)?;
    let mean = total / n.max(1) as f64;
    // Pass 2: x = y − mean, autocorrelated lag by lag as the values go by.
    let mut sums = vec![-0.0f64; max_lag + 1];
    let mut recent: VecDeque<f64> = VecDeque::with_capacity(max_lag + 1);
    detrend(flux, window, |y| {
        let x = y - mean;
        if recent.len() == max_lag + 1 {
            recent.pop_back();
        }
        recent.push_front(x);
        // `recent[lag]` is the value `lag` hops back: its product with this one is the next
        // term of that lag's sum.
        for (sum, &earlier) in sums.iter_mut().zip(&recent) {
            *sum += earlier * x;
        }
    })?;
    // Unbiased: each lag divided by its number of products.
    Ok(sums
        .iter()
        .enumerate()
        .map(|(lag, s)| s / (n - lag) as f64)
        .collect())
}

/// Streams the onset curve minus its moving mean over `window` hops (the mean of the hops
/// within `window / 2` either side, fewer at the ends), half-wave rectified, into `out`:
/// peaks above the local level. Keeps a window of running sums, not the curve.
fn detrend(flux: &Curve, window: usize, mut out: impl FnMut(f64)) -> io::Result<()> {
    let half = window.max(1) / 2;
    let n = flux.len();
    // Running sums `prefix[k]` (the first k values) for k in `base..`, and the values from
    // the next one to emit on.
    let mut prefix: VecDeque<f64> = VecDeque::from([0.0]);
    let mut base = 0usize;
    let mut pending: VecDeque<f32> = VecDeque::new();
    let mut next = 0usize;
    let mut emit = |prefix: &mut VecDeque<f64>, pending: &mut VecDeque<f32>, fed: usize| {
        while next < n {
            let (a, b) = (next.saturating_sub(half), (next + half + 1).min(n));
            if b > fed {
                break;
            }
            let mean = (prefix[b - base] - prefix[a - base]) / (b - a) as f64;
            let v = pending.pop_front().expect("a value per hop fed");
            out((v as f64 - mean).max(0.0));
            next += 1;
            while base < next.saturating_sub(half) {
                prefix.pop_front();
                base += 1;
            }
        }
    };
    let mut fed = 0usize;
    let mut blocks = flux.blocks(CURVE_BLOCK);
    while let Some(block) = blocks.next_block()? {
        for &v in block {
            let last = *prefix.back().expect("never empty");
            prefix.push_back(last + v as f64);
            pending.push_back(v);
            fed += 1;
        }
        emit(&mut prefix, &mut pending, fed);
    }
    Ok(())
}

/// The onset curve of a song: the sum of its tracks' curves, each divided by its mean
/// (silent tracks left out), on the time grid of the first track (others are read at the
/// nearest hop when their rates differ). Streams the tracks' curves block by block into an
/// on-disk curve; fails only when the temporary folder does.
pub fn song_envelope(tracks: &[&Onset]) -> io::Result<Option<Onset>> {
    let Some(first) = tracks.first() else {
        return Ok(None);
    };
    let hop_s = first.hop_s;
    let len = tracks
        .iter()
        .map(|t| ((t.flux.len() as f64 * t.hop_s / hop_s).round()) as usize)
        .max()
        .unwrap_or(0);
    let mut scaled = Vec::new();
    for t in tracks {
        let mut total = -0.0f64;
        let mut blocks = t.flux.blocks(CURVE_BLOCK);
        while let Some(b) = blocks.next_block()? {
            total = b.iter().fold(total, |s, &v| s + v as f64);
        }
        let mean = total / t.flux.len().max(1) as f64;
        if mean.is_nan() || mean <= 0.0 {
            continue;
        }
        scaled.push((Cursor::new(&t.flux), t.hop_s, mean));
    }
    let mut out = CurveWriter::new();
    for i in 0..len {
        let mut s = 0.0f64;
        for (cursor, t_hop, mean) in &mut scaled {
            let j = (i as f64 * hop_s / *t_hop).round() as usize;
            if let Some(v) = cursor.get(j)? {
                s += v as f64 / *mean;
            }
        }
        out.push(s as f32);
    }
    Ok(Some(Onset {
        hop_s,
        flux: out.finish()?,
        flatness: None,
        harmonicity: None,
    }))
}

/// Reads a curve forward at non-decreasing positions, a block at a time.
struct Cursor<'a> {
    blocks: StoreBlocks<'a>,
    /// Position of `buf[0]`.
    start: usize,
    buf: Vec<f32>,
    done: bool,
}

impl<'a> Cursor<'a> {
    fn new(curve: &'a Curve) -> Self {
        Cursor {
            blocks: curve.blocks(CURVE_BLOCK),
            start: 0,
            buf: Vec::new(),
            done: false,
        }
    }

    /// The value at `j` (not before the last position asked), `None` past the end.
    fn get(&mut self, j: usize) -> io::Result<Option<f32>> {
        while !self.done && j >= self.start + self.buf.len() {
            self.start += self.buf.len();
            self.buf.clear();
            match self.blocks.next_block()? {
                Some(b) => self.buf.extend_from_slice(b),
                None => self.done = true,
            }
        }
        Ok(j.checked_sub(self.start)
            .and_then(|k| self.buf.get(k))
            .copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::onset::OnsetMeter;

    /// A click track: a 1 ms burst of a decaying 2 kHz tone on every beat, `secs` long.
    fn clicks(rate: u32, bpm: f64, secs: f64) -> Vec<f32> {
        let n = (rate as f64 * secs) as usize;
        let period = 60.0 / bpm * rate as f64;
        let mut x = vec![0.0f32; n];
        let mut beat = 0.0f64;
        while (beat as usize) < n {
            let start = beat.round() as usize;
            for (i, v) in x[start..].iter_mut().take(rate as usize / 50).enumerate() {
                let t = i as f64 / rate as f64;
                *v = (0.5 * (-t * 300.0).exp() * (2.0 * std::f64::consts::PI * 2000.0 * t).sin())
                    as f32;
            }
            beat += period;
        }
        x
    }

    fn onset_of(x: &[f32], rate: u32) -> Onset {
        let mut m = OnsetMeter::new(1, rate);
        for b in x.chunks(4096) {
            m.push(b);
        }
        m.finish().unwrap()
    }

    fn tempo(o: &Onset) -> Option<Tempo> {
        estimate(&o.flux, o.hop_s).unwrap()
    }

    #[test]
    fn click_tracks_read_within_one_percent() {
        for rate in [44_100, 48_000] {
            for bpm in [90.0, 120.0, 140.0] {
                let o = onset_of(&clicks(rate, bpm, 30.0), rate);
                let t = tempo(&o).expect("a tempo");
                assert!(
                    (t.bpm / bpm - 1.0).abs() < 0.01,
                    "{rate} Hz, {bpm} BPM read as {t:?}"
                );
                assert!(t.strength > 0.5, "{t:?}");
            }
        }
    }

    #[test]
    fn noise_has_weak_or_no_tempo_and_silence_none() {
        let rate = 44_100;
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let noise: Vec<f32> = (0..rate as usize * 20)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2
            })
            .collect();
        let o = onset_of(&noise, rate);
        let clicks = onset_of(&clicks(rate, 120.0, 20.0), rate);
        let weak = tempo(&o).map_or(0.0, |t| t.strength);
        let strong = tempo(&clicks).unwrap().strength;
        assert!(
            weak < 0.2 && strong > 3.0 * weak,
            "noise {weak}, clicks {strong}"
        );
        let silent = onset_of(&vec![0.0; rate as usize * 20], rate);
        assert_eq!(tempo(&silent), None);
        let short = Curve::from_values(&clicks.flux.to_vec().unwrap()[..100]).unwrap();
        assert_eq!(estimate(&short, clicks.hop_s).unwrap(), None);
    }

    #[test]
    fn song_sum_keeps_the_shared_pulse() {
        // Two tracks at different rates playing alternate beats of a 120 BPM grid (each at
        // 60 BPM alone): together they read 120.
        let a: Vec<f32> = clicks(44_100, 60.0, 30.0);
        let mut b = vec![0.0f32; 24_000];
        b.extend(clicks(48_000, 60.0, 29.5));
        let (oa, ob) = (onset_of(&a, 44_100), onset_of(&b, 48_000));
        let song = song_envelope(&[&oa, &ob]).unwrap().unwrap();
        let t = tempo(&song).unwrap();
        assert!((t.bpm / 120.0 - 1.0).abs() < 0.01, "{t:?}");
    }

    /// The whole-curve formulas the streaming [`estimate`] replaced (detrend, mean, unbiased
    /// autocorrelation), as a reference: the streamed sums must match them to the bit.
    fn autocorrelation_in_memory(flux: &[f32], window: usize, max_lag: usize) -> Vec<f64> {
        let (half, n) = (window.max(1) / 2, flux.len());
        let mut prefix = vec![0.0f64; n + 1];
        for (i, &v) in flux.iter().enumerate() {
            prefix[i + 1] = prefix[i] + v as f64;
        }
        let mut y: Vec<f64> = (0..n)
            .map(|i| {
                let (a, b) = (i.saturating_sub(half), (i + half + 1).min(n));
                (flux[i] as f64 - (prefix[b] - prefix[a]) / (b - a) as f64).max(0.0)
            })
            .collect();
        let mean = y.iter().sum::<f64>() / n as f64;
        y.iter_mut().for_each(|v| *v -= mean);
        (0..=max_lag)
            .map(|lag| {
                let m = n - lag;
                y[..m]
                    .iter()
                    .zip(&y[lag..])
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
                    / m as f64
            })
            .collect()
    }

    #[test]
    fn streamed_tempo_matches_the_whole_curve_formulas_bit_for_bit() {
        let rate = 44_100;
        let o = onset_of(&clicks(rate, 97.0, 25.0), rate);
        let flux = o.flux.to_vec().unwrap();
        let window = (DETREND_S / o.hop_s).round() as usize;
        let max_lag =
            ((HARMONICS as f64 * 60.0 / MIN_BPM / o.hop_s).ceil() as usize + 2).min(flux.len() / 2);
        let want = autocorrelation_in_memory(&flux, window, max_lag);
        let got = autocorrelation(&o.flux, window, max_lag).unwrap();
        assert_eq!(got.len(), want.len());
        for (lag, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g.to_bits(), w.to_bits(), "lag {lag}: {g} vs {w}");
        }
        assert!((tempo(&o).unwrap().bpm / 97.0 - 1.0).abs() < 0.01);
    }
}
