//! Deterministic test signals shared by the DSP unit tests (seeded, no rand dependency).

use std::f64::consts::PI;

/// Seeded xorshift64* generator.
pub struct Rng(pub u64);

impl Rng {
    /// Uniform in [-1, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (x >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }

    /// Standard normal (Box–Muller).
    pub fn gauss(&mut self) -> f64 {
        let u1 = (0.5 * (self.uniform() + 1.0)).max(1e-300);
        let u2 = 0.5 * (self.uniform() + 1.0);
        (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
    }

    /// `n` samples of Gaussian white noise of RMS `rms`.
    pub fn noise(&mut self, n: usize, rms: f64) -> Vec<f64> {
        (0..n).map(|_| self.gauss() * rms).collect()
    }
}

/// A sine of `n` samples.
pub fn sine(n: usize, rate: f64, freq: f64, amp: f64, phase: f64) -> Vec<f64> {
    (0..n)
        .map(|i| amp * (2.0 * PI * freq * i as f64 / rate + phase).sin())
        .collect()
}

/// Power of a sinusoid of `freq` in `x` by least-squares fit (amplitude², so a unit sine gives 1).
pub fn tone_power(x: &[f64], rate: f64, freq: f64) -> f64 {
    let (mut c, mut s) = (0.0, 0.0);
    for (i, v) in x.iter().enumerate() {
        let w = 2.0 * PI * freq * i as f64 / rate;
        c += v * w.cos();
        s += v * w.sin();
    }
    let n = x.len() as f64;
    4.0 * (c * c + s * s) / (n * n)
}

/// Mean square of `x`.
pub fn power(x: &[f64]) -> f64 {
    x.iter().map(|v| v * v).sum::<f64>() / x.len().max(1) as f64
}

/// f64 to f32 audio.
pub fn to_f32(x: &[f64]) -> Vec<f32> {
    x.iter().map(|&v| v as f32).collect()
}

/// f32 audio to f64.
pub fn to_f64(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| v as f64).collect()
}

/// Runs `p` over `x` in blocks of `block` samples (mono), returning the output.
pub fn run(p: &mut dyn crate::dsp::Processor, x: &[f64], block: usize) -> Vec<f64> {
    let mut buf = to_f32(x);
    for chunk in buf.chunks_mut(block) {
        p.process(chunk);
    }
    to_f64(&buf)
}
