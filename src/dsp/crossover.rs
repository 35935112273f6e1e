//! One side of a Linkwitz–Riley crossover: the band split of two mics on one source.
//!
//! A 4th-order Linkwitz–Riley filter is two identical 2nd-order Butterworth sections in
//! cascade (24 dB/octave, −6 dB at the crossover). Its low-pass and high-pass have the same
//! phase at every frequency, and their amplitudes add to one: on content both mics share,
//! a low-passed mic plus the other mic high-passed at the same frequency sum to an
//! all-pass, with neither a hole nor a bump at the crossover and no comb between them.

use super::Processor;
use super::biquad::{Biquad, BiquadKind};

/// Which side of the crossover a track keeps (`"low"` or `"high"` in a session).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Below the crossover (the low-pass).
    Low,
    /// Above it (the high-pass).
    High,
}

/// One side of a 4th-order Linkwitz–Riley crossover at a frequency, on interleaved audio.
#[derive(Debug, Clone)]
pub struct LinkwitzRiley {
    sections: [Biquad; 2],
}

impl LinkwitzRiley {
    /// The `side` of a crossover at `freq_hz` for `channels` interleaved channels at
    /// `sample_rate` Hz; `None` when the biquad refuses the settings (no channels, a rate
    /// that is not positive, a frequency not below 0.49 × the rate).
    pub fn new(channels: usize, sample_rate: f64, side: Side, freq_hz: f64) -> Option<Self> {
        let kind = match side {
            Side::Low => BiquadKind::butterworth_low_pass(),
            Side::High => BiquadKind::butterworth_high_pass(),
        };
        let section = Biquad::new(channels, sample_rate, kind, freq_hz).ok()?;
        Some(LinkwitzRiley {
            sections: [section.clone(), section],
        })
    }

    /// Magnitude response at `freq_hz`, dB (−6.02 at the crossover).
    pub fn magnitude_db(&self, freq_hz: f64) -> f64 {
        self.sections.iter().map(|s| s.magnitude_db(freq_hz)).sum()
    }
}

impl Processor for LinkwitzRiley {
    fn reset(&mut self) {
        self.sections.iter_mut().for_each(Processor::reset);
    }

    fn set_sample_rate(&mut self, rate: f64) {
        self.sections
            .iter_mut()
            .for_each(|s| s.set_sample_rate(rate));
    }

    fn process(&mut self, block: &mut [f32]) {
        for s in &mut self.sections {
            s.process(block);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::testsig::{Rng, power, run, sine, tone_power};

    const RATE: f64 = 48_000.0;

    fn split(freq: f64, x: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let mut low = LinkwitzRiley::new(1, RATE, Side::Low, freq).unwrap();
        let mut high = LinkwitzRiley::new(1, RATE, Side::High, freq).unwrap();
        (run(&mut low, x, 1000), run(&mut high, x, 1000))
    }

    #[test]
    fn the_two_sides_sum_flat_on_one_signal() {
        // Tones from 20 Hz to 16 kHz, an octave on either side of the crossover in
        // third-octave steps: the sum's level is within 0.1 dB of the input's.
        let fc = 150.0;
        for k in 0..=29 {
            let f = 20.0 * 2f64.powf(k as f64 / 3.0);
            let x = sine(96_000, RATE, f, 0.5, 0.3);
            let (l, h) = split(fc, &x);
            let sum: Vec<f64> = l.iter().zip(&h).map(|(a, b)| a + b).collect();
            let tail = 48_000;
            let db = 10.0 * (tone_power(&sum[tail..], RATE, f) / 0.25).log10();
            assert!(db.abs() < 0.1, "{f:.0} Hz: sum {db:+.2} dB");
        }
    }

    #[test]
    fn each_side_is_minus_6_db_at_the_crossover_and_steep_beyond() {
        let low = LinkwitzRiley::new(1, RATE, Side::Low, 200.0).unwrap();
        let high = LinkwitzRiley::new(1, RATE, Side::High, 200.0).unwrap();
        assert!((low.magnitude_db(200.0) + 6.02).abs() < 0.05);
        assert!((high.magnitude_db(200.0) + 6.02).abs() < 0.05);
        // 24 dB/octave: two octaves away, at least 45 dB down.
        assert!(low.magnitude_db(800.0) < -45.0);
        assert!(high.magnitude_db(50.0) < -45.0);
        assert!(low.magnitude_db(50.0) > -0.1 && high.magnitude_db(800.0) > -0.1);
    }

    #[test]
    fn noise_splits_into_two_bands_that_add_back_to_the_input_power() {
        // White noise: the sides are in phase, so the sum carries the input's power
        // (within 0.2 dB) where two unrelated halves would not add up the same way.
        let mut rng = Rng(7);
        let x = rng.noise(192_000, 0.1);
        let (l, h) = split(1000.0, &x);
        let sum: Vec<f64> = l.iter().zip(&h).map(|(a, b)| a + b).collect();
        let db = 10.0 * (power(&sum[4800..]) / power(&x[4800..])).log10();
        assert!(db.abs() < 0.2, "sum {db:+.2} dB");
        // The low side at 1 kHz of a white input holds about 1 kHz / 24 kHz of its power.
        let share = power(&l[4800..]) / power(&x[4800..]);
        assert!((0.03..0.06).contains(&share), "low share {share}");
    }
}
