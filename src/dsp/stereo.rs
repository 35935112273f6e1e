//! Stereo-image blocks working on mid and side.

use std::f64::consts::PI;

use super::Processor;
use super::biquad::{Biquad, BiquadKind};

/// Order of the side high-pass of [`LowMono`]: 48 dB/octave, so the side is 15.6 dB down
/// at 0.8 × the corner and 28 dB down at 2/3 of it, while the image an octave above is
/// untouched.
pub const LOW_MONO_ORDER: usize = 8;

/// Low-end mono (the mastering engineer's "elliptical EQ"): high-passes the side
/// (L − R)/2 of an interleaved stereo signal and leaves the mid (L + R)/2 alone, so
/// everything below the corner plays from both speakers alike, whatever was panned or
/// recorded wide there. A Butterworth of order [`LOW_MONO_ORDER`] as cascaded biquads;
/// the mid is not filtered at all, so a centred source passes bit for bit.
pub struct LowMono {
    corner_hz: f64,
    sections: Vec<Biquad>,
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
    /// Side high-pass at `corner_hz` (−3 dB) for stereo audio at `rate` Hz. The corner is
    /// clamped below 0.49·rate.
    pub fn new(rate: f64, corner_hz: f64) -> LowMono {
        let mut m = LowMono {
            corner_hz,
            sections: Vec::new(),
            side: Vec::new(),
        };
        m.set_sample_rate(rate);
        m
    }

    /// Magnitude of the side's high-pass at `freq_hz`, dB.
    pub fn side_gain_db(&self, freq_hz: f64) -> f64 {
        self.sections.iter().map(|s| s.magnitude_db(freq_hz)).sum()
    }
}

impl Processor for LowMono {
    fn reset(&mut self) {
        self.sections.iter_mut().for_each(Processor::reset);
    }

    fn set_sample_rate(&mut self, rate: f64) {
        let f = self.corner_hz.clamp(1.0, 0.49 * rate);
        self.sections = butterworth_qs(LOW_MONO_ORDER)
            .map(|q| {
                Biquad::new(1, rate, BiquadKind::HighPass { q }, f)
                    .expect("corner clamped into the valid range")
            })
            .collect();
    }

    /// Interleaved stereo frames in place.
    fn process(&mut self, block: &mut [f32]) {
        self.side.clear();
        self.side
            .extend(block.chunks_exact(2).map(|f| 0.5 * (f[0] - f[1])));
        for s in &mut self.sections {
            s.process(&mut self.side);
        }
        for (f, &s) in block.chunks_exact_mut(2).zip(&self.side) {
            let mid = 0.5 * (f[0] + f[1]);
            f[0] = mid + s;
            f[1] = mid - s;
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

    fn side(x: &[f32]) -> Vec<f64> {
        x.chunks_exact(2)
            .map(|f| (f[0] as f64 - f[1] as f64) / 2.0)
            .collect()
    }

    #[test]
    fn wide_bass_becomes_mono_below_120_hz() {
        let rate = 48_000.0;
        let mut rng = Rng(0x5eed_0001);
        let mut x = wide_bass(&mut rng, 4 * 48_000, rate);
        let m0 = mid(&x);
        let before = low_side_to_mid_db(&x, rate, 120.0);
        assert!(before > -3.0, "the test signal is wide: {before:.1} dB");
        let mut lm = LowMono::new(rate, 150.0);
        for chunk in x.chunks_mut(2 * 1000) {
            lm.process(chunk);
        }
        let after = low_side_to_mid_db(&x, rate, 120.0);
        assert!(after <= -20.0, "side/mid below 120 Hz: {after:.1} dB");
        // The mid is untouched (to f32 rounding).
        let m1 = mid(&x);
        let err: f64 = m0
            .iter()
            .zip(&m1)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>();
        assert!(err / m0.iter().map(|a| a * a).sum::<f64>() < 1e-12);
    }

    #[test]
    fn the_image_above_the_corner_is_kept() {
        let rate = 44_100.0;
        let n = 44_100;
        // A 1 kHz tone hard left: its side is as strong as its mid and must stay so.
        let tone = sine(n, rate, 1000.0, 0.5, 0.0);
        let mut x: Vec<f32> = tone.iter().flat_map(|&v| [v as f32, 0.0]).collect();
        let mut lm = LowMono::new(rate, 150.0);
        lm.process(&mut x);
        let settled = &x[2 * 4410..];
        let ratio = power(&side(settled)) / power(&mid(settled));
        assert!((10.0 * ratio.log10()).abs() < 0.05, "{ratio}");
        assert!(lm.side_gain_db(1000.0).abs() < 0.01);
        assert!(lm.side_gain_db(120.0) < -15.0 && lm.side_gain_db(100.0) < -27.0);
    }

    #[test]
    fn centred_sources_pass_bit_for_bit_and_blocks_do_not_matter() {
        let rate = 48_000.0;
        let mut rng = Rng(7);
        let mono = band_noise(&mut rng, 20_000, rate, 0.2, 20.0, 20_000.0);
        let mut x: Vec<f32> = mono.iter().flat_map(|&v| [v, v]).collect();
        let orig = x.clone();
        LowMono::new(rate, 120.0).process(&mut x);
        assert_eq!(x, orig);
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
