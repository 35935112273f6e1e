//! A role guess from the audio alone, for stems whose names say nothing (`Audio 03.wav`).
//!
//! Features ([`FEATURES`]) come from what the analysis already measured: the long-term
//! spectrum (centroid, tilt, the share of five broad bands), loudness (crest, activity),
//! the stereo image, the onset curve (rate and peakiness of onsets, spectral flatness) and
//! the short-time band frames (how far the level falls between hits), and the harmonicity
//! (one clear pitch or not).
//!
//! The classifier is a nearest centroid in a standardised space: each feature is divided
//! by its pooled within-role standard deviation and the track goes to the role whose mean
//! is closest (Euclidean). That is a Gaussian model with one shared diagonal covariance
//! and equal priors, so the confidence is the posterior of the chosen role,
//! `exp(−d²/2T) / Σ exp(−dᵢ²/2T)`, where the temperature `T` is fitted on held-out songs
//! (the plain model, `T = 1`, is far too sure of itself with so few songs). The constants
//! live in `role_model.rs`, written by `scripts/role_accuracy.py --fit` from the benchmark
//! corpus (see that script for the fit and its held-out accuracy).

use std::collections::VecDeque;
use std::io;

use serde::{Deserialize, Serialize};

use super::TrackAnalysis;
use super::role_model::{CENTROIDS, SCALE, TEMPERATURE};
use super::select::select;
use super::spectrum::BAND_FRAME_BLOCK;
use crate::engineer::roles::Role;
use crate::io::spool::{CURVE_BLOCK, Curve, SpoolWriter};

/// Names of the features, in the order of [`features`] and of the model's constants.
pub const FEATURES: [&str; 15] = [
    "log2_centroid_khz",
    "tilt_db_per_octave",
    "band_20_63_db",
    "band_80_250_db",
    "band_315_1k_db",
    "band_1k25_4k_db",
    "band_5k_20k_db",
    "crest_db",
    "onset_rate_hz",
    "onset_peakiness",
    "active_fraction",
    "side_to_mid_db",
    "log_flatness",
    "sustain_db",
    "harmonicity",
];

/// Third-octave band indices (inclusive) of the five broad bands: 20–63 Hz, 80–250 Hz,
/// 315 Hz–1 kHz, 1.25–4 kHz, 5–20 kHz.
const BROAD_BANDS: [(usize, usize); 5] = [(0, 5), (6, 11), (12, 17), (18, 23), (24, 30)];
/// Floor of relative levels and ratios in the features, dB.
const FLOOR_DB: f64 = -60.0;
/// A peak of the onset curve counts as an onset when it reaches this share of the curve's
/// 99th percentile and is the largest within [`PEAK_HALF_WIDTH`] hops either side.
const ONSET_SHARE: f32 = 0.3;
const PEAK_HALF_WIDTH: usize = 5;
/// Short-time frames more than this far below the loudest 5 % are silence for `sustain_db`.
const SUSTAIN_RANGE_DB: f64 = 40.0;

/// A role guessed from the audio.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RoleGuess {
    /// The most likely role.
    pub role: Role,
    /// Its posterior probability under the model, 0…1.
    pub confidence: f64,
}

fn db(p: f64) -> f64 {
    if p > 0.0 {
        (10.0 * p.log10()).max(FLOOR_DB)
    } else {
        FLOOR_DB
    }
}

/// Rank (from 0) of the `q`-quantile (0…1) of `n` (> 0) sorted values.
fn quantile_rank(n: usize, q: f64) -> u64 {
    ((n - 1) as f64 * q).round() as u64
}

/// Hands every value of `curve` to `f`, in order, read block by block from disk.
fn each_value(curve: &Curve, mut f: impl FnMut(f32)) -> io::Result<()> {
    let mut blocks = curve.blocks(CURVE_BLOCK);
    while let Some(b) = blocks.next_block()? {
        b.iter().for_each(|&v| f(v));
    }
    Ok(())
}

/// The features of a track, in [`FEATURES`] order; `None` for a silent track. Fails only
/// when the band frames cannot be read back from the temporary folder.
pub fn features(a: &TrackAnalysis) -> io::Result<Option<[f64; FEATURES.len()]>> {
    let s = &a.spectrum;
    let l = &a.loudness;
    let (Some(centroid), Some(active)) = (s.centroid_hz, l.active_lufs) else {
        return Ok(None);
    };
    let powers: Vec<f64> = s
        .third_octave_db
        .iter()
        .map(|&d| 10f64.powf(d / 10.0))
        .collect();
    let total: f64 = powers.iter().sum();
    let band = |(lo, hi): (usize, usize)| {
        db(powers.get(lo..=hi).map_or(0.0, |p| p.iter().sum::<f64>()) / total)
    };

    // The flux streamed from disk: its mean, its 99th percentile (exact, by passes), then
    // the onsets: local peaks over that share of it.
    let flux = &a.onset.flux;
    let n = flux.len();
    let duration = n as f64 * a.onset.hop_s;
    let (p99, mean) = if n == 0 {
        (0.0, 0.0)
    } else {
        let mut total = -0.0f64;
        each_value(flux, |v| total += v as f64)?;
        let rank = quantile_rank(n, 0.99);
        let p99 = select(vec![rank], |feed| each_value(flux, |v| feed(0, v as f64)))?[0];
        (p99, total / n as f64)
    };
    let threshold = (ONSET_SHARE as f64 * p99) as f32;
    let mut onsets = 0usize;
    // The values within PEAK_HALF_WIDTH of the one judged, from index `first`.
    let mut near: VecDeque<f32> = VecDeque::with_capacity(2 * PEAK_HALF_WIDTH + 2);
    let mut first = 0usize;
    let mut next = 0usize;
    let mut judge = |near: &VecDeque<f32>, first: usize, i: usize| {
        let v = near[i - first];
        let lo = i.saturating_sub(PEAK_HALF_WIDTH) - first;
        let hi = (i + PEAK_HALF_WIDTH + 1).min(n) - first;
        if v > 0.0
            && v >= threshold
            && near.range(lo..hi).all(|&w| w <= v)
            && near.range(lo..i - first).all(|&w| w < v)
        {
            onsets += 1;
        }
    };
    let mut fed = 0usize;
    each_value(flux, |v| {
        near.push_back(v);
        fed += 1;
        while next < n && (next + PEAK_HALF_WIDTH + 1).min(n) <= fed {
            judge(&near, first, next);
            next += 1;
            while first < next.saturating_sub(PEAK_HALF_WIDTH) {
                near.pop_front();
                first += 1;
            }
        }
    })?;
    let playing_s = (duration * l.active_fraction).max(a.onset.hop_s);

    // One level per frame (f64, parked on disk: 8 bytes per 50 ms), then its quantiles by
    // passes over it.
    let bands = s.frames.bands().max(1);
    let mut store = SpoolWriter::new(2)?;
    let mut blocks = s.frames.blocks(BAND_FRAME_BLOCK);
    let mut frames = 0usize;
    while let Some(block) = blocks.next_block()? {
        let levels: Vec<f64> = block
            .chunks_exact(bands)
            .map(|f| {
                let p: f64 = f.iter().map(|&d| 10f64.powf(d as f64 / 10.0)).sum();
                10.0 * p.max(1e-15).log10()
            })
            .collect();
        frames += levels.len();
        store.write_f64(&levels)?;
    }
    let levels = store.finish()?;
    let sustain = if frames == 0 {
        0.0
    } else {
        let each_level = |f: &mut dyn FnMut(f64)| -> io::Result<()> {
            let mut buf = vec![0.0f64; BAND_FRAME_BLOCK];
            for start in (0..frames).step_by(BAND_FRAME_BLOCK) {
                let len = BAND_FRAME_BLOCK.min(frames - start);
                levels.read_f64(start as u64, &mut buf[..len])?;
                buf[..len].iter().for_each(|&v| f(v));
            }
            Ok(())
        };
        let loud = select(vec![quantile_rank(frames, 0.95)], |feed| {
            each_level(&mut |v| feed(0, v))
        })?[0];
        let floor = loud - SUSTAIN_RANGE_DB;
        let mut playing = 0usize;
        each_level(&mut |v| playing += usize::from(v >= floor))?;
        let median = select(vec![quantile_rank(playing, 0.5)], |feed| {
            each_level(&mut |v| {
                if v >= floor {
                    feed(0, v)
                }
            })
        })?[0];
        median - loud
    };

    let width = s
        .stereo
        .as_ref()
        .and_then(|st| st.side_to_mid_db)
        .map_or(FLOOR_DB, |v| v.clamp(FLOOR_DB, 10.0));
    Ok(Some([
        (centroid / 1000.0).log2(),
        s.tilt_db_per_octave.unwrap_or(0.0),
        band(BROAD_BANDS[0]),
        band(BROAD_BANDS[1]),
        band(BROAD_BANDS[2]),
        band(BROAD_BANDS[3]),
        band(BROAD_BANDS[4]),
        l.sample_peak_dbfs.unwrap_or(active) - active,
        onsets as f64 / playing_s,
        if mean > 0.0 { (p99 / mean).ln() } else { 0.0 },
        l.active_fraction,
        width,
        a.onset
            .flatness
            .map_or(FLOOR_DB / 10.0, |f| f.max(1e-6).ln()),
        sustain,
        a.onset.harmonicity.unwrap_or(0.0),
    ]))
}

/// Guesses the role of a track from its features; `None` for a silent track.
pub fn guess(a: &TrackAnalysis) -> io::Result<Option<RoleGuess>> {
    Ok(features(a)?.and_then(|f| classify(&f)))
}

/// Nearest centroid in the standardised feature space, with its posterior.
pub fn classify(x: &[f64; FEATURES.len()]) -> Option<RoleGuess> {
    let d2: Vec<(Role, f64)> = CENTROIDS
        .iter()
        .map(|(role, c)| {
            let d = x
                .iter()
                .zip(c)
                .zip(&SCALE)
                .map(|((x, c), s)| ((x - c) / s).powi(2))
                .sum::<f64>();
            (*role, d)
        })
        .collect();
    let &(role, best) = d2.iter().min_by(|a, b| a.1.total_cmp(&b.1))?;
    // Relative to the best, so the exponentials cannot all underflow.
    let total: f64 = d2
        .iter()
        .map(|(_, d)| (-(d - best) / (2.0 * TEMPERATURE)).exp())
        .sum();
    Some(RoleGuess {
        role,
        confidence: 1.0 / total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::analyze_track;
    use crate::io::spool::SpoolWriter;
    use std::f64::consts::PI;

    const RATE: u32 = 44_100;
    const SECS: f64 = 20.0;

    /// xorshift64: seeded noise without a rand dependency (the state, the last value).
    struct Noise(u64, f64);
    impl Noise {
        /// First-difference (high-passed, +6 dB/octave) noise.
        fn high(&mut self) -> f64 {
            let last = self.1;
            self.1 = self.next();
            0.5 * (self.1 - last)
        }

        fn next(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        }
    }

    fn analyse(f: impl Fn(f64, &mut Noise) -> f64) -> TrackAnalysis {
        let mut noise = Noise(0x9e37_79b9_7f4a_7c15, 0.0);
        let samples: Vec<f32> = (0..(SECS * RATE as f64) as usize)
            .map(|i| f(i as f64 / RATE as f64, &mut noise) as f32)
            .collect();
        let mut w = SpoolWriter::new(1).unwrap();
        w.write(&samples).unwrap();
        analyze_track(&w.finish().unwrap(), RATE).unwrap()
    }

    /// A kick: a 55 Hz thump (starting an octave up) decaying over ~150 ms with a 3 ms
    /// beater click, on beats 1 and 3 at 120 BPM.
    fn kick(t: f64, n: &mut Noise) -> f64 {
        let tb = t % 1.0;
        let phase = 2.0 * PI * (55.0 * tb + 55.0 * 0.02 * (1.0 - (-tb / 0.02).exp()));
        let click = (-tb / 0.003).exp() * n.next();
        0.8 * (-tb / 0.15).exp() * phase.sin() + 0.3 * click
    }

    /// A hi-hat: white-noise bursts decaying over ~30 ms, every eighth note.
    fn hat(t: f64, n: &mut Noise) -> f64 {
        0.3 * (-(t % 0.25) / 0.03).exp() * n.next()
    }

    /// A bass line: a rounded sawtooth, one root per beat (A1, A1, D2, C2), plucked.
    fn bass(t: f64, _: &mut Noise) -> f64 {
        let f = [55.0, 55.0, 73.4, 65.4][(t / 0.5) as usize % 4];
        let saw: f64 = (1..8)
            .map(|k| (2.0 * PI * f * k as f64 * t).sin() / k as f64)
            .sum();
        0.2 * saw * (0.6 + 0.4 * (-(t % 0.5) / 0.3).exp())
    }

    /// A sung line: 4 syllables a second in 1.5 s phrases, each a 40 ms fricative (noise
    /// above ~3 kHz) then a vowel on a new note (harmonics with vibrato through the
    /// formants of /a/ or /i/).
    fn vocal(t: f64, n: &mut Noise) -> f64 {
        let phrase = t % 2.0;
        if phrase >= 1.5 {
            return 0.0;
        }
        let syllable = (t / 0.25) as usize;
        let ts = t % 0.25;
        if ts < 0.04 {
            return 0.1 * n.high();
        }
        let f0 = [220.0, 247.0, 262.0, 294.0, 262.0, 247.0][syllable % 6]
            * (1.0 + 0.01 * (2.0 * PI * 5.5 * t).sin());
        let formants = if syllable.is_multiple_of(2) {
            (700.0, 1200.0)
        } else {
            (300.0, 2300.0)
        };
        let v: f64 = (1..40)
            .map(|k| {
                let fk = f0 * k as f64;
                let amp = (-((fk - formants.0) / 150.0).powi(2)).exp()
                    + 0.6 * (-((fk - formants.1) / 200.0).powi(2)).exp()
                    + 0.02;
                amp * (2.0 * PI * fk * t).sin()
            })
            .sum();
        0.15 * v * ((ts - 0.04) / 0.02).min(1.0) * ((0.25 - ts) / 0.02).min(1.0)
    }

    #[test]
    fn a_kick_is_not_a_hi_hat() {
        let k = guess(&analyse(kick)).unwrap().unwrap();
        let h = guess(&analyse(hat)).unwrap().unwrap();
        assert_eq!(k.role, Role::Kick, "{k:?}");
        assert_eq!(h.role, Role::HiHat, "{h:?}");
    }

    #[test]
    fn a_bass_line_is_not_a_vocal() {
        let b = guess(&analyse(bass)).unwrap().unwrap();
        let v = guess(&analyse(vocal)).unwrap().unwrap();
        assert_eq!(b.role, Role::Bass, "{b:?}");
        // The corpus's vocals are espeak-ng voices, sparser and spikier than this line:
        // the model cannot be trusted to name it a vocal, only to keep it out of the low end.
        assert!(
            !matches!(v.role, Role::Bass | Role::Kick | Role::Tom),
            "{v:?}"
        );
    }

    #[test]
    fn features_follow_the_signal() {
        let (k, h) = (
            features(&analyse(kick)).unwrap().unwrap(),
            features(&analyse(hat)).unwrap().unwrap(),
        );
        let at = |f: &[f64; FEATURES.len()], name: &str| {
            f[FEATURES.iter().position(|&n| n == name).unwrap()]
        };
        assert!(at(&k, "log2_centroid_khz") < -2.0 && at(&h, "log2_centroid_khz") > 2.0);
        assert!(at(&h, "log_flatness") > at(&k, "log_flatness") + 2.0);
        // Every hit found: 80 hats, 20 kicks (the rate is per second of activity).
        let hits =
            |f: &[f64; FEATURES.len()]| at(f, "onset_rate_hz") * at(f, "active_fraction") * SECS;
        assert!((hits(&h) - 80.0).abs() < 2.0, "{h:?}");
        assert!((hits(&k) - 20.0).abs() < 1.0, "{k:?}");
    }

    #[test]
    fn silence_has_no_guess() {
        assert_eq!(guess(&analyse(|_, _| 0.0)).unwrap(), None);
    }

    #[test]
    fn confidence_is_a_probability() {
        let mut x = CENTROIDS[0].1;
        let g = classify(&x).unwrap();
        assert_eq!(g.role, CENTROIDS[0].0);
        assert!(g.confidence > 0.0 && g.confidence <= 1.0);
        // Far from every centroid: still a finite probability.
        x.iter_mut().for_each(|v| *v += 1e3);
        let g = classify(&x).unwrap();
        assert!(g.confidence.is_finite() && g.confidence > 0.0);
    }
}
