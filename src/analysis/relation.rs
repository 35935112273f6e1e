//! Tracks that captured the same source (kick in/out, snare top/bottom, a close mic and
//! the overheads, DI and amp): their polarity and the delay between them, for the repair
//! stage to align.
//!
//! Method: for each pair of tracks, the mono fold-downs are cross-correlated (FFT, via
//! `realfft`) over a bounded set of windows: the [`WINDOWS`] windows of [`WINDOW_S`] where
//! both tracks are loudest together (the lower of their levels, each relative to its own
//! loudest window, highest first; only windows where both are within 40 dB of their
//! loudest). The correlations of the windows are summed and normalised by the windows'
//! energies, so the figure is the correlation coefficient of the concatenated windows at
//! each lag. Lags are searched within ±[`MAX_LAG_S`] (10 ms: 3.4 m of path difference,
//! more than any two mics on one source are apart; the overheads over a snare are ~1 m).
//! The peak of |correlation| gives the polarity (its sign) and the lag (refined by a
//! parabola through the three values around it, then rounded to whole samples). A pair
//! is reported when the peak lies inside the search range (a peak at its edge is a slope
//! towards something farther away) and either |correlation| reaches
//! [`STRONG_CORRELATION`], or it reaches [`MIN_CORRELATION`] and is confirmed by the
//! coherence-weighted correlation (the same cross-spectrum with each frequency weighted by
//! 1/√(Pa·Pb), the smoothed coherence transform): that peaks at the same lag (±1 sample)
//! with the same sign and reaches [`MIN_COHERENCE`]. The confirmation finds a close mic in
//! overheads where it is a small part of their energy (on the benchmark kits: snare and
//! hi-hat 0.08–0.19 correlation, 0.15–0.34 coherence), while instruments that merely
//! play together peak at different lags in the two weightings (a guitar and horns in
//! unison: 0.37 correlation, coherence 0.05 and elsewhere).
//!
//! Cost: one pass over each track for its window levels, then per pair [`WINDOWS`]
//! reads of a window and three FFTs of about twice its length; memory: a few windows.

use std::io;

use rayon::prelude::*;
use realfft::RealFftPlanner;
use realfft::num_complex::Complex;
use serde::{Deserialize, Serialize};

use crate::io::spool::Spool;

/// Length of a correlation window, s.
pub const WINDOW_S: f64 = 0.25;
/// Windows per pair.
pub const WINDOWS: usize = 16;
/// Largest lag searched, either way, s.
pub const MAX_LAG_S: f64 = 0.010;
/// Pairs under this |correlation| are not reported.
pub const MIN_CORRELATION: f64 = 0.05;
/// Pairs at or above this |correlation| are reported on the correlation alone.
pub const STRONG_CORRELATION: f64 = 0.5;
/// Weaker pairs are reported only when their |coherence| reaches this and it peaks at
/// the correlation's lag (±1 sample) with its sign.
pub const MIN_COHERENCE: f64 = 0.1;
/// Windows where a track is more than this under its own loudest window do not count
/// for it (power ratio, −40 dB).
const MIN_SHARE: f64 = 1e-4;

/// Two tracks that captured the same source.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Relation {
    /// Index of the first track.
    pub a: usize,
    /// Index of the second track (> `a`).
    pub b: usize,
    /// Peak normalised cross-correlation, −1…+1 (negative: polarity inverted).
    pub correlation: f64,
    /// Peak of the coherence-weighted correlation, −1…+1: about the mean coherence of the
    /// pair over the frequencies both carry, in phase at that lag (see the module notes).
    #[serde(default)]
    pub coherence: f64,
    /// The tracks are in opposite polarity.
    pub polarity_inverted: bool,
    /// Delay of `b` after `a` in samples at the analysis rate (negative: `b` earlier).
    pub lag_samples: i64,
    /// The same delay in milliseconds, with the sub-sample refinement.
    pub lag_ms: f64,
}

/// Mono fold-down of `len` frames from `start` (frames outside the track read as silence).
fn read_mono(spool: &Spool, start: i64, len: usize) -> io::Result<Vec<f32>> {
    let ch = spool.channels();
    let mut out = vec![0.0f32; len];
    let skip = (-start).clamp(0, len as i64) as usize;
    let from = start.max(0) as u64;
    let mut buf = vec![0.0f32; (len - skip) * ch];
    spool.read(from, &mut buf)?;
    for (o, frame) in out[skip..].iter_mut().zip(buf.chunks_exact(ch)) {
        let s: f32 = frame.iter().sum::<f32>() / ch as f32;
        *o = if s.is_finite() { s } else { 0.0 };
    }
    Ok(out)
}

/// Energy of every window of the mono fold-down.
fn window_energies(spool: &Spool, window: usize) -> io::Result<Vec<f64>> {
    let ch = spool.channels();
    let mut out = Vec::new();
    let mut acc = 0.0;
    let mut filled = 0;
    let mut blocks = spool.blocks(window.max(1) * 4);
    while let Some(block) = blocks.next_block()? {
        for frame in block.chunks_exact(ch) {
            let s = frame.iter().sum::<f32>() as f64 / ch as f64;
            acc += if s.is_finite() { s * s } else { 0.0 };
            filled += 1;
            if filled == window {
                out.push(acc);
                acc = 0.0;
                filled = 0;
            }
        }
    }
    if filled > 0 {
        out.push(acc);
    }
    Ok(out)
}

/// Pairs of tracks (all at `rate` Hz) that captured the same source; see the module notes.
pub fn relate(spools: &[&Spool], rate: u32) -> io::Result<Vec<Relation>> {
    let rate = rate.max(1) as f64;
    let window = ((WINDOW_S * rate).round() as usize).max(1);
    let max_lag = ((MAX_LAG_S * rate).round() as usize).max(1);
    let energies: Vec<Vec<f64>> = spools
        .par_iter()
        .map(|s| window_energies(s, window))
        .collect::<io::Result<_>>()?;
    let pairs: Vec<(usize, usize)> = (0..spools.len())
        .flat_map(|a| (a + 1..spools.len()).map(move |b| (a, b)))
        .collect();
    let found: Vec<Option<Relation>> = pairs
        .par_iter()
        .map(|&(a, b)| {
            pair(
                spools[a],
                spools[b],
                &energies[a],
                &energies[b],
                window,
                max_lag,
                rate,
            )
            .map(|r| {
                r.map(|mut r| {
                    r.a = a;
                    r.b = b;
                    r
                })
            })
        })
        .collect::<io::Result<_>>()?;
    Ok(found.into_iter().flatten().collect())
}

/// The relation of one pair, if they are related.
fn pair(
    sa: &Spool,
    sb: &Spool,
    ea: &[f64],
    eb: &[f64],
    window: usize,
    max_lag: usize,
    rate: f64,
) -> io::Result<Option<Relation>> {
    let top = |e: &[f64]| e.iter().cloned().fold(0.0f64, f64::max);
    let (ta, tb) = (top(ea), top(eb));
    if ta <= 0.0 || tb <= 0.0 {
        return Ok(None);
    }
    let mut chosen: Vec<(f64, usize)> = ea
        .iter()
        .zip(eb)
        .enumerate()
        .map(|(w, (x, y))| ((x / ta).min(y / tb), w))
        .filter(|(s, _)| *s >= MIN_SHARE)
        .collect();
    if chosen.is_empty() {
        return Ok(None);
    }
    chosen.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
    chosen.truncate(WINDOWS);
    chosen.sort_by_key(|c| c.1);

    let lags = 2 * max_lag + 1;
    let n = super::spectrum::fast_len(window + lags);
    let mut planner = RealFftPlanner::<f64>::new();
    let forward = planner.plan_fft_forward(n);
    let inverse = planner.plan_fft_inverse(n);
    let mut xa = forward.make_input_vec();
    let mut xb = forward.make_input_vec();
    let mut fa = forward.make_output_vec();
    let mut fb = forward.make_output_vec();
    let mut corr = inverse.make_output_vec();
    // Cross and auto spectra summed over the windows.
    let mut cross = vec![Complex::new(0.0f64, 0.0); fa.len()];
    let mut power_a = vec![0.0f64; fa.len()];
    let mut power_b = vec![0.0f64; fa.len()];
    let (mut energy_a, mut energy_b) = (0.0, 0.0);
    for &(_, w) in &chosen {
        // Only where both tracks have audio, so a track that ends early is not
        // measured against the other's continuing signal.
        let start = (w * window) as u64;
        let len = (window as u64)
            .min(sa.frames().saturating_sub(start))
            .min(sb.frames().saturating_sub(start)) as usize;
        if len == 0 {
            continue;
        }
        let start = start as i64;
        let a = read_mono(sa, start, len)?;
        let b = read_mono(sb, start - max_lag as i64, len + 2 * max_lag)?;
        energy_a += a.iter().map(|&v| (v as f64).powi(2)).sum::<f64>();
        energy_b += b[max_lag..max_lag + len]
            .iter()
            .map(|&v| (v as f64).powi(2))
            .sum::<f64>();
        xa.fill(0.0);
        xb.fill(0.0);
        for (x, &v) in xa.iter_mut().zip(&a) {
            *x = v as f64;
        }
        for (x, &v) in xb.iter_mut().zip(&b) {
            *x = v as f64;
        }
        forward
            .process(&mut xa, &mut fa)
            .expect("buffer lengths come from the plan");
        forward
            .process(&mut xb, &mut fb)
            .expect("buffer lengths come from the plan");
        // c[k] = Σ a[i]·b[i + k]: the spectrum of b times the conjugate of a's.
        for (((c, pa), pb), (x, y)) in cross
            .iter_mut()
            .zip(power_a.iter_mut())
            .zip(power_b.iter_mut())
            .zip(fa.iter().zip(&fb))
        {
            *c += x.conj() * y;
            *pa += x.norm_sqr();
            *pb += y.norm_sqr();
        }
    }
    let norm = (energy_a * energy_b).sqrt();
    if norm <= 0.0 {
        return Ok(None);
    }
    let mut to_lags = |spectrum: Vec<Complex<f64>>, scale: f64| -> Vec<f64> {
        let mut prod = spectrum;
        // A real signal's spectrum has real DC and Nyquist bins; keep rounding from
        // making them complex (the inverse transform checks).
        prod[0].im = 0.0;
        if n.is_multiple_of(2) {
            prod[n / 2].im = 0.0;
        }
        inverse
            .process(&mut prod, &mut corr)
            .expect("buffer lengths come from the plan");
        corr[..lags].iter().map(|c| c * scale).collect()
    };
    let sum = to_lags(cross.clone(), 1.0 / (n as f64 * norm));
    // The same correlation with every bin weighted by 1/√(Pa·Pb) (smoothed coherence
    // transform): each frequency counts by how coherent the pair is there, not by its
    // energy, so a source that is a small part of the other track (a snare 8 dB under
    // the cymbals in the overheads) still shows. Bins where either track is more than
    // 60 dB under its strongest bin are left out (nothing there to be coherent).
    let (top_a, top_b) = (
        power_a.iter().cloned().fold(0.0, f64::max),
        power_b.iter().cloned().fold(0.0, f64::max),
    );
    let mut used = 0usize;
    let weighted: Vec<Complex<f64>> = cross
        .iter()
        .zip(power_a.iter().zip(&power_b))
        .map(|(c, (&pa, &pb))| {
            if pa > top_a * 1e-6 && pb > top_b * 1e-6 {
                used += 1;
                c / (pa * pb).sqrt()
            } else {
                Complex::new(0.0, 0.0)
            }
        })
        .collect();
    // Scaled so that bins all coherent and in phase at a lag read 1 there.
    let coherent = to_lags(weighted, 0.5 / used.max(1) as f64);
    let peak_of = |v: &[f64]| {
        v.iter()
            .enumerate()
            .max_by(|x, y| x.1.abs().total_cmp(&y.1.abs()).then(y.0.cmp(&x.0)))
            .map(|(k, v)| (k, *v))
            .expect("at least one lag")
    };
    let (k, peak) = peak_of(&sum);
    let (kc, peak_c) = peak_of(&coherent);
    let correlation = peak.clamp(-1.0, 1.0);
    // Two weightings of the same cross-spectrum agree on the lag and the sign only when
    // one shared, delayed signal is behind both peaks; for different instruments that
    // merely play together each peak falls at its own lag.
    let agree = k.abs_diff(kc) <= 1 && (peak > 0.0) == (peak_c > 0.0);
    let confirmed = agree && peak_c.abs() >= MIN_COHERENCE;
    if (correlation.abs() < STRONG_CORRELATION && !confirmed)
        || correlation.abs() < MIN_CORRELATION
        || k == 0
        || k == lags - 1
    {
        return Ok(None);
    }
    let (l, c, r) = (sum[k - 1].abs(), sum[k].abs(), sum[k + 1].abs());
    let den = l - 2.0 * c + r;
    let offset = if den < 0.0 {
        (0.5 * (l - r) / den).clamp(-0.5, 0.5)
    } else {
        0.0
    };
    let lag = k as f64 - max_lag as f64 + offset;
    Ok(Some(Relation {
        a: 0,
        b: 0,
        correlation,
        coherence: peak_c.clamp(-1.0, 1.0),
        polarity_inverted: correlation < 0.0,
        lag_samples: lag.round() as i64,
        lag_ms: 1000.0 * lag / rate,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::problems::tests::{Rng, music};
    use crate::io::spool::SpoolWriter;
    use std::f64::consts::PI;

    fn spool(x: &[f32], channels: usize) -> Spool {
        let mut w = SpoolWriter::new(channels).unwrap();
        w.write(x).unwrap();
        w.finish().unwrap()
    }

    /// `x` delayed by `d` samples (fractional: windowed-sinc interpolation), times `g`.
    fn delayed(x: &[f32], d: f64, g: f32) -> Vec<f32> {
        let taps = 32i64;
        let whole = d.floor() as i64;
        let frac = d - whole as f64;
        let kernel: Vec<f64> = (-taps..=taps)
            .map(|j| {
                let t = j as f64 - frac;
                let sinc = if t.abs() < 1e-12 {
                    1.0
                } else {
                    (std::f64::consts::PI * t).sin() / (std::f64::consts::PI * t)
                };
                let w = 0.5 + 0.5 * (std::f64::consts::PI * t / (taps as f64 + 1.0)).cos();
                sinc * w
            })
            .collect();
        (0..x.len() as i64)
            .map(|n| {
                let mut s = 0.0;
                for (j, k) in (-taps..=taps).zip(&kernel) {
                    let i = n - whole - j;
                    if i >= 0 && (i as usize) < x.len() {
                        s += x[i as usize] as f64 * k;
                    }
                }
                g * s as f32
            })
            .collect()
    }

    /// A snare-like close mic and an "overhead": the snare delayed, quieter, with other
    /// sources (noise) on top.
    #[test]
    fn delay_and_polarity_are_found_to_the_sample() {
        for rate in [44_100u32, 48_000] {
            let close = music(rate, 6.0, 21);
            let mut rng = Rng(3);
            for (ms, inverted) in [(0.1, false), (0.83, true), (3.7, false), (9.6, true)] {
                let d = ms / 1000.0 * rate as f64;
                let mut far = delayed(&close, d, if inverted { -0.5 } else { 0.5 });
                for v in far.iter_mut() {
                    *v += (0.02 * rng.gauss()) as f32;
                }
                let (a, b) = (spool(&close, 1), spool(&far, 1));
                let rel = relate(&[&a, &b], rate).unwrap();
                assert_eq!(rel.len(), 1, "{ms} ms: {rel:?}");
                let r = &rel[0];
                assert_eq!((r.a, r.b), (0, 1));
                assert_eq!(r.polarity_inverted, inverted, "{r:?}");
                assert!(
                    (r.lag_samples as f64 - d).abs() <= 1.0,
                    "{ms} ms = {d}: {r:?}"
                );
                assert!((r.lag_ms - ms).abs() < 0.5 * 1000.0 / rate as f64, "{r:?}");
                // The other way round the lag is negative.
                let back = relate(&[&b, &a], rate).unwrap();
                assert!((back[0].lag_samples as f64 + d).abs() <= 1.0, "{back:?}");
            }
        }
    }

    /// A snare close mic: noise bursts with a low-mid body, decaying in 60 ms, twice a second.
    fn snare(rate: u32, secs: f64, seed: u64) -> Vec<f32> {
        let mut rng = Rng(seed);
        let r = rate as f64;
        let mut low = 0.0;
        (0..(secs * r) as usize)
            .map(|i| {
                let t = (i as f64 / r) % 0.5;
                low = 0.8 * low + 0.2 * rng.gauss();
                (0.5 * low * (-t / 0.06).exp()) as f32
            })
            .collect()
    }

    /// Overheads where the snare is a small part: continuous bright "cymbals" (differenced
    /// noise) 8 dB over the snare's peaks, the snare delayed by `d` samples, inverted.
    #[test]
    fn a_close_mic_that_is_a_small_part_of_the_overheads_is_found() {
        let rate = 44_100;
        let close = snare(rate, 8.0, 5);
        let mut rng = Rng(17);
        let mut prev = 0.0;
        for (d, inverted) in [(37.0, true), (211.0, false)] {
            let far: Vec<f32> = delayed(&close, d, if inverted { -0.4 } else { 0.4 })
                .iter()
                .map(|&v| {
                    let n = 0.25 * rng.gauss();
                    let cymbal = n - prev;
                    prev = n;
                    v + cymbal as f32
                })
                .collect();
            let (a, b) = (spool(&close, 1), spool(&far, 1));
            let rel = relate(&[&a, &b], rate).unwrap();
            assert_eq!(rel.len(), 1, "{rel:?}");
            let r = &rel[0];
            assert!(r.correlation.abs() < STRONG_CORRELATION, "{r:?}");
            assert_eq!(r.polarity_inverted, inverted, "{r:?}");
            assert!((r.lag_samples as f64 - d).abs() <= 1.0, "{r:?}");
        }
    }

    /// Two instruments in unison (the same notes and rhythm, their own timbres and a few
    /// cents apart) share no signal, whatever their correlation at some lag.
    #[test]
    fn instruments_playing_together_are_not_related() {
        let rate = 44_100;
        let r = rate as f64;
        let notes = [220.0, 246.9, 261.6, 293.7, 329.6, 293.7, 261.6, 246.9];
        let voice = |detune: f64, harmonics: &[f64], attack: f64| -> Vec<f32> {
            (0..(8.0 * r) as usize)
                .map(|i| {
                    let t = i as f64 / r;
                    let f = notes[(t / 0.5) as usize % notes.len()] * detune;
                    let u = t % 0.5;
                    let env = (u / attack).min(1.0) * (-u / 0.3).exp();
                    let v: f64 = harmonics
                        .iter()
                        .enumerate()
                        .map(|(h, a)| a * (2.0 * PI * f * (h + 1) as f64 * t).sin())
                        .sum();
                    (0.3 * env * v) as f32
                })
                .collect()
        };
        let guitar = voice(1.0, &[1.0, 0.5, 0.3, 0.2, 0.1], 0.002);
        let horn = voice(1.003, &[1.0, 0.8, 0.6, 0.4, 0.3, 0.2], 0.03);
        let (a, b) = (spool(&guitar, 1), spool(&horn, 1));
        let rel = relate(&[&a, &b], rate).unwrap();
        assert!(rel.is_empty(), "{rel:?}");
    }

    #[test]
    fn unrelated_tracks_and_bad_input_give_nothing() {
        let rate = 44_100;
        let x = music(rate, 5.0, 1);
        let mut rng = Rng(9);
        let noise: Vec<f32> = (0..x.len()).map(|_| (0.1 * rng.gauss()) as f32).collect();
        let (a, b) = (spool(&x, 1), spool(&noise, 1));
        assert!(relate(&[&a, &b], rate).unwrap().is_empty());
        // Empty, silent, short, mono with stereo.
        let empty = spool(&[], 2);
        let silent = spool(&vec![0.0; 2 * rate as usize], 1);
        let short = spool(&x[..4000], 1);
        let stereo: Vec<f32> = x.iter().flat_map(|&v| [v, v]).collect();
        let st = spool(&stereo, 2);
        assert!(relate(&[&a, &empty, &silent], rate).unwrap().is_empty());
        assert!(relate(&[], rate).unwrap().is_empty());
        let r = relate(&[&short, &st], rate).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].lag_samples, 0);
        assert!(r[0].correlation > 0.99);
    }
}
