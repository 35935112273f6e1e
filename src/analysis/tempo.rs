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

use serde::{Deserialize, Serialize};

use super::onset::Onset;

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
/// curve is too short or holds no onsets.
pub fn estimate(flux: &[f32], hop_s: f64) -> Option<Tempo> {
    if hop_s <= 0.0 || (flux.len() as f64) * hop_s < MIN_SECONDS {
        return None;
    }
    let x = detrend(flux, (DETREND_S / hop_s).round() as usize);
    let max_lag =
        ((HARMONICS as f64 * 60.0 / MIN_BPM / hop_s).ceil() as usize + 2).min(x.len() / 2);
    let r = autocorrelation(&x, max_lag);
    if r[0].partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return None;
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
    let (bpm, score) = best?;
    (score > 0.0).then(|| Tempo {
        // The grid's own precision: no float noise in JSON.
        bpm: (bpm * 100.0).round() / 100.0,
        strength: comb(bpm).clamp(0.0, 1.0),
    })
}

/// The onset curve minus its moving mean over `window` hops, half-wave rectified, with its
/// own mean removed: peaks above the local level, centred on zero.
fn detrend(flux: &[f32], window: usize) -> Vec<f64> {
    let half = window.max(1) / 2;
    let n = flux.len();
    let mut prefix = vec![0.0f64; n + 1];
    for (i, &v) in flux.iter().enumerate() {
        prefix[i + 1] = prefix[i] + v as f64;
    }
    let mut y: Vec<f64> = (0..n)
        .map(|i| {
            let (a, b) = (i.saturating_sub(half), (i + half + 1).min(n));
            let mean = (prefix[b] - prefix[a]) / (b - a) as f64;
            (flux[i] as f64 - mean).max(0.0)
        })
        .collect();
    let mean = y.iter().sum::<f64>() / n.max(1) as f64;
    for v in &mut y {
        *v -= mean;
    }
    y
}

/// Unbiased autocorrelation (each lag divided by its number of products) for lags
/// `0..=max_lag`.
fn autocorrelation(x: &[f64], max_lag: usize) -> Vec<f64> {
    (0..=max_lag)
        .map(|lag| {
            let n = x.len() - lag;
            x[..n]
                .iter()
                .zip(&x[lag..])
                .map(|(a, b)| a * b)
                .sum::<f64>()
                / n as f64
        })
        .collect()
}

/// The onset curve of a song: the sum of its tracks' curves, each divided by its mean
/// (silent tracks left out), on the time grid of the first track (others are read at the
/// nearest hop when their rates differ).
pub fn song_envelope(tracks: &[&Onset]) -> Option<Onset> {
    let first = tracks.first()?;
    let hop_s = first.hop_s;
    let len = tracks
        .iter()
        .map(|t| ((t.flux.len() as f64 * t.hop_s / hop_s).round()) as usize)
        .max()?;
    let mut sum = vec![0.0f64; len];
    for t in tracks {
        let mean = t.flux.iter().map(|&v| v as f64).sum::<f64>() / t.flux.len().max(1) as f64;
        if mean.is_nan() || mean <= 0.0 {
            continue;
        }
        for (i, s) in sum.iter_mut().enumerate() {
            let j = (i as f64 * hop_s / t.hop_s).round() as usize;
            if let Some(&v) = t.flux.get(j) {
                *s += v as f64 / mean;
            }
        }
    }
    Some(Onset {
        hop_s,
        flux: sum.into_iter().map(|v| v as f32).collect(),
        flatness: None,
    })
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
        m.finish()
    }

    #[test]
    fn click_tracks_read_within_one_percent() {
        for rate in [44_100, 48_000] {
            for bpm in [90.0, 120.0, 140.0] {
                let o = onset_of(&clicks(rate, bpm, 30.0), rate);
                let t = estimate(&o.flux, o.hop_s).expect("a tempo");
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
        let weak = estimate(&o.flux, o.hop_s).map_or(0.0, |t| t.strength);
        let strong = estimate(&clicks.flux, clicks.hop_s).unwrap().strength;
        assert!(
            weak < 0.2 && strong > 3.0 * weak,
            "noise {weak}, clicks {strong}"
        );
        let silent = onset_of(&vec![0.0; rate as usize * 20], rate);
        assert_eq!(estimate(&silent.flux, silent.hop_s), None);
        assert_eq!(estimate(&clicks.flux[..100], clicks.hop_s), None);
    }

    #[test]
    fn song_sum_keeps_the_shared_pulse() {
        // Two tracks at different rates playing alternate beats of a 120 BPM grid (each at
        // 60 BPM alone): together they read 120.
        let a: Vec<f32> = clicks(44_100, 60.0, 30.0);
        let mut b = vec![0.0f32; 24_000];
        b.extend(clicks(48_000, 60.0, 29.5));
        let (oa, ob) = (onset_of(&a, 44_100), onset_of(&b, 48_000));
        let song = song_envelope(&[&oa, &ob]).unwrap();
        let t = estimate(&song.flux, song.hop_s).unwrap();
        assert!((t.bpm / 120.0 - 1.0).abs() < 0.01, "{t:?}");
    }
}
