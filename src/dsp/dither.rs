//! TPDF dither: quantisation of f32 samples to N-bit integers for delivery.
//!
//! Plain rounding to 16 or 24 bits leaves an error that follows the signal (harmonic
//! distortion on quiet fades, and anything below half an LSB vanishes). Adding
//! triangular-PDF noise spanning ±1 LSB before rounding makes the total error
//! signal-independent white noise of power LSB²/4 with zero mean, so quiet material
//! survives as signal plus a constant hiss instead of distorting or disappearing.
//!
//! The noise comes from a small seeded generator per channel (xorshift64*), so the same
//! input gives the same bytes on every run and every machine, however it is split into
//! blocks; channels get different streams so the noise is uncorrelated between them.

use crate::dsp::Processor;

/// Base seed of the per-channel generators; channel `c` is seeded from `SEED ^ c`.
const SEED: u64 = 0x6D69_7877_7269_6768; // "mixwrigh"

/// xorshift64* (Vigna 2016): 64-bit state, passes BigCrush on the high bits we use.
#[derive(Clone, Debug)]
struct XorShift64Star(u64);

impl XorShift64Star {
    /// Seeds through splitmix64 so neighbouring seeds give unrelated streams
    /// (and the state is never zero, which xorshift cannot leave).
    fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Self(if z == 0 { 1 } else { z })
    }

    /// Uniform in [0, 1) with 53 bits of resolution.
    fn uniform(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Triangular in (-1, 1): the difference of two independent uniforms.
    fn triangular(&mut self) -> f64 {
        self.uniform() - self.uniform()
    }
}

/// Quantises interleaved f32 samples in [-1, 1] to `bits`-bit signed integers with
/// ±1 LSB TPDF dither, per channel, deterministically.
///
/// Full scale maps 1.0 to 2^(bits-1); results are clamped to
/// [-2^(bits-1), 2^(bits-1) - 1]. Inputs beyond ±1 clip at the rails; NaN becomes 0
/// (callers that must refuse NaN check before quantising). The interleave position
/// is tracked across calls, so a block may even end mid-frame.
#[derive(Clone, Debug)]
pub struct TpdfDither {
    bits: u32,
    /// 2^(bits-1): integer units per 1.0 of full scale.
    scale: f64,
    min: f64,
    max: f64,
    rngs: Vec<XorShift64Star>,
    /// Channel of the next sample to arrive.
    next_channel: usize,
}

impl TpdfDither {
    /// A quantiser to `bits`-bit integers for `channels` interleaved channels.
    ///
    /// # Panics
    ///
    /// If `bits` is outside 2..=32 or `channels` is 0: both are fixed by the caller's
    /// output format, never by user data.
    pub fn new(bits: u32, channels: usize) -> Self {
        assert!(
            (2..=32).contains(&bits),
            "dither to {bits} bits: expected 2..=32"
        );
        assert!(channels > 0, "dither for 0 channels");
        let scale = (1u64 << (bits - 1)) as f64;
        Self {
            bits,
            scale,
            min: -scale,
            max: scale - 1.0,
            rngs: (0..channels)
                .map(|c| XorShift64Star::new(SEED ^ c as u64))
                .collect(),
            next_channel: 0,
        }
    }

    /// Target word length in bits.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// Interleaved channel count.
    pub fn channels(&self) -> usize {
        self.rngs.len()
    }

    /// Quantises `input` and appends the integers to `out` (which is not cleared, so a
    /// caller can fill an encoder block piecewise without a second buffer).
    pub fn quantize_extend(&mut self, input: &[f32], out: &mut Vec<i32>) {
        out.reserve(input.len());
        for &x in input {
            let q = self.quantize_next(x);
            out.push(q);
        }
    }

    /// Quantises the next sample of the interleaved stream.
    fn quantize_next(&mut self, x: f32) -> i32 {
        let ch = self.next_channel;
        self.next_channel = if ch + 1 == self.rngs.len() { 0 } else { ch + 1 };
        let d = self.rngs[ch].triangular();
        // f64 keeps the full 24-bit f32 mantissa plus the dither exact before rounding.
        let v = (f64::from(x) * self.scale + d).round();
        // `as` saturates and maps NaN to 0, so no input can panic here.
        v.clamp(self.min, self.max) as i32
    }
}

impl Processor for TpdfDither {
    /// Restarts every channel's noise stream from its seed and the interleave at channel 0.
    fn reset(&mut self) {
        for (c, rng) in self.rngs.iter_mut().enumerate() {
            *rng = XorShift64Star::new(SEED ^ c as u64);
        }
        self.next_channel = 0;
    }

    /// Dither does not depend on the sample rate.
    fn set_sample_rate(&mut self, _rate: f64) {
        self.reset();
    }

    /// Replaces each sample by its dithered quantised value, scaled back to [-1, 1]:
    /// what the delivered file will hold, for measuring it before writing.
    fn process(&mut self, block: &mut [f32]) {
        let inv = 1.0 / self.scale;
        for s in block {
            *s = (f64::from(self.quantize_next(*s)) * inv) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::testsig::Pcg32;

    fn quantize_all(d: &mut TpdfDither, x: &[f32]) -> Vec<i32> {
        let mut out = Vec::new();
        d.quantize_extend(x, &mut out);
        out
    }

    /// Mean and mean square of the quantisation error in LSB.
    fn error_stats(x: &[f32], q: &[i32], scale: f64) -> (f64, f64) {
        let n = x.len() as f64;
        let (mut s, mut s2) = (0.0, 0.0);
        for (&xi, &qi) in x.iter().zip(q) {
            let e = f64::from(qi) - f64::from(xi) * scale;
            s += e;
            s2 += e * e;
        }
        (s / n, s2 / n)
    }

    #[test]
    fn error_power_is_tpdf_theoretical_quarter_lsb_squared() {
        // Random signal well inside full scale, 16-bit.
        let mut g = Pcg32(7);
        let x: Vec<f32> = (0..1 << 20).map(|_| (0.5 * g.signed()) as f32).collect();
        let mut d = TpdfDither::new(16, 1);
        let q = quantize_all(&mut d, &x);
        let (mean, power) = error_stats(&x, &q, 32768.0);
        assert!(
            (power - 0.25).abs() < 0.025,
            "error power {power} LSB², expected 0.25 ± 10%"
        );
        assert!(
            mean.abs() < 0.005,
            "mean error {mean} LSB: dither must add no DC"
        );
    }

    #[test]
    fn error_power_and_mean_do_not_depend_on_the_signal() {
        // The defining property of TPDF (vs. rectangular or none): a constant input at any
        // offset between two steps gets the same noise power and no bias. Without dither the
        // error at offset 0.25 would be a constant -0.25 LSB of DC and zero noise.
        for &frac in &[0.0, 0.125, 0.25, 0.5, 0.75] {
            let level = (1000.0 + frac) / 8_388_608.0; // 24-bit LSBs
            let x = vec![level as f32; 200_000];
            let mut d = TpdfDither::new(24, 1);
            let q = quantize_all(&mut d, &x);
            let (mean, power) = error_stats(&x, &q, 8_388_608.0);
            assert!(
                (power - 0.25).abs() < 0.025,
                "offset {frac} LSB: error power {power} LSB², expected 0.25 ± 10%"
            );
            assert!(
                mean.abs() < 0.01,
                "offset {frac} LSB: mean error {mean} LSB"
            );
        }
    }

    /// Power of DFT bin `k` of `x` (Goertzel).
    fn bin_power(x: &[f64], k: usize) -> f64 {
        let w = 2.0 * std::f64::consts::PI * k as f64 / x.len() as f64;
        let c = 2.0 * w.cos();
        let (mut s1, mut s2) = (0.0, 0.0);
        for &v in x {
            let s0 = v + c * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        s1 * s1 + s2 * s2 - c * s1 * s2
    }

    #[test]
    fn a_minus_100_dbfs_sine_survives_16_bit_quantisation() {
        let n = 1 << 16;
        let k = 1021; // whole cycles in the window: no leakage
        let amp = 1e-5; // -100 dBFS = 0.33 LSB at 16 bits
        let x: Vec<f32> = (0..n)
            .map(|i| (amp * (2.0 * std::f64::consts::PI * (k * i) as f64 / n as f64).sin()) as f32)
            .collect();

        // Plain rounding erases it completely: the reason to dither.
        assert!(x.iter().all(|&v| (f64::from(v) * 32768.0).round() == 0.0));

        let mut d = TpdfDither::new(16, 1);
        let q: Vec<f64> = quantize_all(&mut d, &x)
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        let signal = bin_power(&q, k);
        let mut noise: Vec<f64> = (1..n / 2)
            .filter(|&b| b.abs_diff(k) > 2)
            .step_by(7)
            .map(|b| bin_power(&q, b))
            .collect();
        noise.sort_by(f64::total_cmp);
        let median_noise = noise[noise.len() / 2];
        let snr_db = 10.0 * (signal / median_noise).log10();
        assert!(
            snr_db > 25.0,
            "sine bin only {snr_db:.1} dB above the noise floor"
        );
        // And it comes out at the right level (dither linearises the quantiser).
        let measured_amp = 2.0 * signal.sqrt() / n as f64 / 32768.0;
        assert!(
            (measured_amp / amp - 1.0).abs() < 0.1,
            "amplitude {measured_amp:e}, expected {amp:e}"
        );
    }

    #[test]
    fn same_seed_same_output_whatever_the_block_split() {
        let mut g = Pcg32(11);
        let x: Vec<f32> = (0..30_001 * 2).map(|_| (0.9 * g.signed()) as f32).collect();
        let a = quantize_all(&mut TpdfDither::new(24, 2), &x);
        let b = quantize_all(&mut TpdfDither::new(24, 2), &x);
        assert_eq!(a, b);
        // Odd block sizes, including ones ending mid-frame.
        let mut d = TpdfDither::new(24, 2);
        let mut c = Vec::new();
        let mut rest = &x[..];
        for size in [1usize, 7, 4096, 3, 1000].iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (head, tail) = rest.split_at((*size).min(rest.len()));
            d.quantize_extend(head, &mut c);
            rest = tail;
        }
        assert_eq!(a, c);
        // Reset replays the same stream.
        d.reset();
        assert_eq!(a, quantize_all(&mut d, &x));
    }

    #[test]
    fn channels_get_uncorrelated_noise() {
        // Identical noise on L and R would be a centred, mono-correlated hiss.
        let n = 200_000;
        let x = vec![0.3f32; 2 * n];
        let q = quantize_all(&mut TpdfDither::new(16, 2), &x);
        let base = f64::from(0.3f32) * 32768.0; // 9830.4: errors measured from the true value
        let (mut lr, mut ll, mut rr) = (0.0, 0.0, 0.0);
        for f in q.chunks_exact(2) {
            let (l, r) = (f64::from(f[0]) - base, f64::from(f[1]) - base);
            lr += l * r;
            ll += l * l;
            rr += r * r;
        }
        let corr = lr / (ll * rr).sqrt();
        assert!(corr.abs() < 0.01, "L/R dither correlation {corr}");
    }

    #[test]
    fn clamps_to_the_integer_range_and_never_panics() {
        let x = [
            1.0f32,
            -1.0,
            2.5,
            -7.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            0.0,
        ];
        for bits in [16u32, 24] {
            let max = (1i32 << (bits - 1)) - 1;
            let min = -(1i32 << (bits - 1));
            for _ in 0..1000 {
                let mut d = TpdfDither::new(bits, 1);
                let q = quantize_all(&mut d, &x);
                assert!(q.iter().all(|&v| (min..=max).contains(&v)));
                assert_eq!(q[2], max);
                assert_eq!(q[3], min);
                assert_eq!(q[4], max);
                assert_eq!(q[5], min);
                assert_eq!(q[6], 0, "NaN must become silence");
            }
        }
    }

    #[test]
    fn processor_output_sits_on_the_integer_grid() {
        let mut g = Pcg32(3);
        let x: Vec<f32> = (0..10_000).map(|_| (0.7 * g.signed()) as f32).collect();
        let mut block = x.clone();
        let mut d = TpdfDither::new(16, 2);
        d.process(&mut block);
        let q = quantize_all(&mut TpdfDither::new(16, 2), &x);
        for (&b, &qi) in block.iter().zip(&q) {
            assert_eq!(f64::from(b) * 32768.0, f64::from(qi));
        }
    }
}
