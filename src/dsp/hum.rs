//! Mains hum removal: a bank of narrow notches at the mains frequency and its harmonics.
//!
//! Each notch is an RBJ band-reject biquad (see [`crate::dsp::biquad`]) whose bandwidth in
//! Hz is fixed and small, so the hum lines are removed while a musical partial a few Hz
//! away, and anything between the harmonics, is left alone. A bandwidth of about 1–2 Hz
//! tolerates the usual drift of a mains frequency (±0.1 Hz) yet settles in about
//! 1/(π·bandwidth) ≈ 0.2 s.

use crate::dsp::Processor;
use crate::dsp::biquad::{Biquad, BiquadKind};

/// Bandwidth of the notch at the fundamental, Hz.
const BASE_BANDWIDTH_HZ: f64 = 1.5;
/// Extra bandwidth per harmonic number, Hz: a drift of the mains frequency moves the k-th
/// harmonic k times as far.
const BANDWIDTH_PER_HARMONIC_HZ: f64 = 0.25;
/// Highest notch frequency as a fraction of the sample rate.
const MAX_RATIO: f64 = 0.45;

/// A notch bank for `mains_hz` (50 or 60 Hz, or a measured value) and its harmonics up
/// to `harmonics` (1 = the fundamental only).
#[derive(Debug, Clone)]
pub struct HumRemover {
    mains_hz: f64,
    harmonics: usize,
    channels: usize,
    notches: Vec<Biquad>,
}

impl HumRemover {
    /// Notches for `harmonics` multiples of `mains_hz` on `channels` interleaved channels;
    /// multiples above 0.45·`sample_rate` are skipped.
    pub fn new(channels: usize, sample_rate: f64, mains_hz: f64, harmonics: usize) -> Self {
        let mut h = HumRemover {
            mains_hz,
            harmonics,
            channels: channels.max(1),
            notches: Vec::new(),
        };
        h.set_sample_rate(sample_rate);
        h
    }

    /// The notch frequencies in Hz, in order.
    pub fn frequencies(&self) -> Vec<f64> {
        self.notches.iter().map(|n| n.freq_hz()).collect()
    }

    /// Magnitude response of the whole bank in dB at `freq_hz`.
    pub fn magnitude_db(&self, freq_hz: f64) -> f64 {
        self.notches.iter().map(|n| n.magnitude_db(freq_hz)).sum()
    }
}

impl Processor for HumRemover {
    fn reset(&mut self) {
        self.notches.iter_mut().for_each(Processor::reset);
    }

    fn set_sample_rate(&mut self, rate: f64) {
        self.notches = (1..=self.harmonics)
            .map(|k| k as f64 * self.mains_hz)
            .take_while(|&f| f > 0.0 && f < MAX_RATIO * rate)
            .enumerate()
            .filter_map(|(i, f)| {
                let bw = BASE_BANDWIDTH_HZ + BANDWIDTH_PER_HARMONIC_HZ * i as f64;
                Biquad::new(self.channels, rate, BiquadKind::Notch { q: f / bw }, f).ok()
            })
            .collect();
    }

    fn process(&mut self, block: &mut [f32]) {
        for n in &mut self.notches {
            n.process(block);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::testsig::*;

    const RATE: f64 = 48_000.0;

    /// Hum as planted by the benchmark: fundamental plus harmonics 2–7 falling away.
    fn hum(n: usize, mains: f64, amp: f64) -> Vec<f64> {
        let rel_db = [0.0, -4.0, -6.0, -12.0, -14.0, -20.0, -22.0];
        let mut y = vec![0.0; n];
        for (k, db) in rel_db.iter().enumerate() {
            let a = amp * 10f64.powf(db / 20.0);
            for (o, v) in y
                .iter_mut()
                .zip(sine(n, RATE, mains * (k + 1) as f64, a, 0.3 * k as f64))
            {
                *o += v;
            }
        }
        y
    }

    #[test]
    fn removes_hum_and_harmonics_by_25_db_and_spares_a_tone_a_third_octave_away() {
        for mains in [50.0, 60.0] {
            let n = (RATE * 4.0) as usize;
            let tone_f = mains * 2f64.powf(1.0 / 3.0);
            let tone = sine(n, RATE, tone_f, 0.1, 0.0);
            let h = hum(n, mains, 0.03);
            let x: Vec<f64> = tone.iter().zip(&h).map(|(a, b)| a + b).collect();
            let mut p = HumRemover::new(1, RATE, mains, 7);
            let y = run(&mut p, &x, 1000);
            // Measure after the notches have settled (1 s).
            let skip = RATE as usize;
            let (xs, ys) = (&x[skip..], &y[skip..]);
            let hum_in: f64 = (1..=7)
                .map(|k| tone_power(xs, RATE, mains * k as f64))
                .sum();
            let hum_out: f64 = (1..=7)
                .map(|k| tone_power(ys, RATE, mains * k as f64))
                .sum();
            let reduction = 10.0 * (hum_in / hum_out).log10();
            assert!(
                reduction >= 25.0,
                "{mains} Hz hum reduced by {reduction:.1} dB"
            );
            let change =
                10.0 * (tone_power(ys, RATE, tone_f) / tone_power(xs, RATE, tone_f)).log10();
            assert!(
                change.abs() < 0.5,
                "tone at {tone_f:.1} Hz changed {change:.2} dB"
            );
            // And by design at the third-octave neighbours of the low harmonics (from the
            // 4th up, a third octave above lands next to another harmonic).
            for k in 1..=3 {
                let f = mains * k as f64 * 2f64.powf(1.0 / 3.0);
                assert!(
                    p.magnitude_db(f).abs() < 0.5,
                    "{f} Hz: {}",
                    p.magnitude_db(f)
                );
            }
        }
    }

    #[test]
    fn skips_harmonics_above_the_band_and_stays_finite() {
        let mut p = HumRemover::new(2, 8_000.0, 60.0, 100);
        assert!(p.frequencies().iter().all(|&f| f < 3600.0));
        assert_eq!(p.frequencies().len(), 59);
        let mut block = vec![f32::NAN, 1.0, 0.5, -0.5];
        p.process(&mut block);
        assert!(block.iter().all(|v| v.is_finite()));
    }
}
