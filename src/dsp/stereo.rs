//! Stereo-image blocks working on mid and side.

use std::f64::consts::PI;

use super::Processor;
use super::biquad::{Biquad, BiquadKind};

/// Order of the side high-pass of [`LowMono`]: a Linkwitz–Riley of order 8 (48 dB/octave,
/// −6 dB at the corner), so the side is 17 dB down at 0.8 × the corner and 28 dB down at 2/3
/// of it, while the image an octave above is untouched.
pub const LOW_MONO_ORDER: usize = 8;

/// Low-end mono (the mastering engineer's "elliptical EQ"): high-passes the side
/// (L − R)/2 of an interleaved stereo signal, so everything below the corner plays from
/// both speakers alike, whatever was panned or recorded wide there.
///
/// The side's high-pass is a Linkwitz–Riley (two cascaded Butterworths of half the
/// order) and the mid gets the all-pass with the same phase (the Butterworth's poles, as
/// in an LR crossover's summed output). A high-pass on the side alone would turn the side
/// against the mid above the corner (an eighth-order high-pass turns it by 180° around 2×
/// the corner): a part panned right plays left at 300 Hz. With both turned alike the image
/// above the corner is kept, and the mid's magnitude is untouched. Every strip of a mix
/// must go through it (centred ones too) so that all keep the same phase.
pub struct LowMono {
    corner_hz: f64,
    side_sections: Vec<Biquad>,
    mid_sections: Vec<Biquad>,
    mid: Vec<f32>,
    side: Vec<f32>,
}

/// Quality factors of the biquad sections of an even-order Butterworth filter.
fn butterworth_qs(order: usize) -> impl Iterator<Item = f64> {
    (1..=order / 2).map(move |k| {
        let theta = (2 * k - 1) as f64 * PI / (2 * order) as f64;
        1.0 / (2.0 * theta.cos())
    })
}

impl LowMono {
    /// Side high-pass at `corner_hz` (−6 dB) for stereo audio at `rate` Hz. The corner is
    /// clamped below 0.49·rate.
    pub fn new(rate: f64, corner_hz: f64) -> LowMono {
        let mut m = LowMono {
            corner_hz,
            side_sections: Vec::new(),
            mid_sections: Vec::new(),
            mid: Vec::new(),
            side: Vec::new(),
        };
        m.set_sample_rate(rate);
        m
    }

    /// Magnitude of the side's high-pass at `freq_hz`, dB.
    pub fn side_gain_db(&self, freq_hz: f64) -> f64 {
        self.side_sections
            .iter()
            .map(|s| s.magnitude_db(freq_hz))
            .sum()
    }
}

impl Processor for LowMono {
    fn reset(&mut self) {
        self.side_sections.iter_mut().for_each(Processor::reset);
        self.mid_sections.iter_mut().for_each(Processor::reset);
    }

    fn set_sample_rate(&mut self, rate: f64) {
        let f = self.corner_hz.clamp(1.0, 0.49 * rate);
        let section =
            |kind| Biquad::new(1, rate, kind, f).expect("corner clamped into the valid range");
        let half = LOW_MONO_ORDER / 2;
        self.side_sections = butterworth_qs(half)
            .chain(butterworth_qs(half))
            .map(|q| section(BiquadKind::HighPass { q }))
            .collect();
        self.mid_sections = butterworth_qs(half)
            .map(|q| section(BiquadKind::AllPass { q }))
            .collect();
    }

    /// Interleaved stereo frames in place.
    fn process(&mut self, block: &mut [f32]) {
        self.mid.clear();
        self.side.clear();
        for f in block.chunks_exact(2) {
            self.mid.push(0.5 * (f[0] + f[1]));
            self.side.push(0.5 * (f[0] - f[1]));
        }
        for s in &mut self.side_sections {
            s.process(&mut self.side);
        }
        for s in &mut self.mid_sections {
            s.process(&mut self.mid);
        }
        for ((f, &m), &s) in block.chunks_exact_mut(2).zip(&self.mid).zip(&self.side) {
            f[0] = m + s;
            f[1] = m - s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::testsig::{Rng, band_noise, low_side_to_mid_db, power, sine};

    /// Unrelated left and right noise, band-limited to 30–250 Hz: a bass recorded as wide
    /// as it can be (side as strong as mid).
    fn wide_bass(rng: &mut Rng, n: usize, rate: f64) -> Vec<f32> {
        let l = band_noise(rng, n, rate, 0.1, 30.0, 250.0);
        let r = band_noise(rng, n, rate, 0.1, 30.0, 250.0);
        l.iter().zip(&r).flat_map(|(&a, &b)| [a, b]).collect()
    }

    fn mid(x: &[f32]) -> Vec<f64> {
        x.chunks_exact(2)
            .map(|f| (f[0] as f64 + f[1] as f64) / 2.0)
            .collect()
    }

    #[test]
    fn wide_bass_becomes_mono_below_120_hz() {
        for rate in [44_100.0, 48_000.0, 96_000.0] {
            let mut rng = Rng(0x5eed_0001);
            let mut x = wide_bass(&mut rng, 4 * rate as usize, rate);
            let m0 = mid(&x);
            let before = low_side_to_mid_db(&x, rate, 120.0);
            assert!(before > -3.0, "the test signal is wide: {before:.1} dB");
            let mut lm = LowMono::new(rate, 150.0);
            for chunk in x.chunks_mut(2 * 1000) {
                lm.process(chunk);
            }
            let after = low_side_to_mid_db(&x, rate, 120.0);
            assert!(
                after <= -20.0,
                "{rate} Hz: side/mid below 120 Hz: {after:.1} dB"
            );
            // The mid only turns in phase: its power stays (past the first 0.1 s).
            let skip = rate as usize / 10;
            let change = 10.0 * (power(&mid(&x)[skip..]) / power(&m0[skip..])).log10();
            assert!(
                change.abs() < 0.05,
                "{rate} Hz: mid changed by {change:.3} dB"
            );
        }
    }

    /// Left over right power, dB, past the first 0.1 s.
    fn left_over_right_db(x: &[f32], rate: f64) -> f64 {
        let skip = rate as usize / 10;
        let l: Vec<f64> = x.chunks_exact(2).skip(skip).map(|f| f[0] as f64).collect();
        let r: Vec<f64> = x.chunks_exact(2).skip(skip).map(|f| f[1] as f64).collect();
        10.0 * (power(&l) / power(&r)).log10()
    }

    #[test]
    fn the_image_above_the_corner_is_kept() {
        for rate in [44_100.0, 48_000.0] {
            let n = rate as usize;
            let mut lm = LowMono::new(rate, 150.0);
            assert!(lm.side_gain_db(1000.0).abs() < 0.01);
            assert!(lm.side_gain_db(120.0) < -15.0 && lm.side_gain_db(100.0) < -27.0);
            for freq in [300.0, 450.0, 1000.0, 4000.0] {
                let tone = sine(n, rate, freq, 0.5, 0.0);
                // Hard left stays hard left (a high-pass on the side alone put 300 Hz on
                // the right), and a part at pan 0.5 keeps its lean.
                let mut x: Vec<f32> = tone.iter().flat_map(|&v| [v as f32, 0.0]).collect();
                lm.reset();
                lm.process(&mut x);
                let lr = left_over_right_db(&x, rate);
                assert!(lr > 30.0, "{rate} Hz, {freq} Hz hard left: L/R {lr:.1} dB");
                let (gl, gr) = crate::dsp::pan::constant_power(0.5);
                let want = 20.0 * (gl / gr).log10();
                let mut x: Vec<f32> = tone
                    .iter()
                    .flat_map(|&v| [(v * gl) as f32, (v * gr) as f32])
                    .collect();
                lm.reset();
                lm.process(&mut x);
                let lr = left_over_right_db(&x, rate);
                assert!(
                    (lr - want).abs() < 0.3,
                    "{rate} Hz, {freq} Hz at pan 0.5: L/R {lr:.2} dB, panned {want:.2} dB"
                );
            }
        }
    }

    #[test]
    fn centred_sources_stay_centred_and_blocks_do_not_matter() {
        let rate = 48_000.0;
        let mut rng = Rng(7);
        let mono = band_noise(&mut rng, 20_000, rate, 0.2, 20.0, 20_000.0);
        let mut x: Vec<f32> = mono.iter().flat_map(|&v| [v, v]).collect();
        LowMono::new(rate, 120.0).process(&mut x);
        assert!(x.chunks_exact(2).all(|f| f[0] == f[1]), "no side appears");
        let mut a = wide_bass(&mut rng, 20_000, rate);
        let mut b = a.clone();
        LowMono::new(rate, 120.0).process(&mut a);
        let mut q = LowMono::new(rate, 120.0);
        for chunk in b.chunks_mut(2 * 333) {
            q.process(chunk);
        }
        assert_eq!(a, b);
    }
}
