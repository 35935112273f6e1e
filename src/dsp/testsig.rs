//! Deterministic test signals shared by the DSP unit tests (seeded, no rand dependency).

use std::f64::consts::PI;

/// Seeded xorshift64* generator.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1), 53 bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [-1, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }

    /// Log-uniform in [`lo`, `hi`): as likely in any octave.
    pub fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo * (hi / lo).powf(self.unit())
    }

    /// Uniform integer in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
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

/// Seeded PCG32 (XSH RR): a second generator for tests of code that draws from
/// xorshift64* itself (the dither), so the test signal is independent of it.
pub struct Pcg32(pub u64);

impl Pcg32 {
    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        let old = self.0;
        self.0 = old
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let xorshifted = (((old >> 18) ^ old) >> 27) as u32;
        xorshifted.rotate_right((old >> 59) as u32)
    }

    /// Uniform in [-1, 1).
    pub fn signed(&mut self) -> f64 {
        f64::from(self.next_u32()) / 2_147_483_648.0 - 1.0
    }
}

/// A sine of `n` samples.
pub fn sine(n: usize, rate: f64, freq: f64, amp: f64, phase: f64) -> Vec<f64> {
    (0..n)
        .map(|i| amp * (2.0 * PI * freq * i as f64 / rate + phase).sin())
        .collect()
}

/// One partial of a note for [`add_note`].
pub struct Partial {
    /// Multiple of the fundamental.
    pub harmonic: usize,
    /// Peak amplitude.
    pub amp: f64,
    /// Decay rate, 1/s (the amplitude falls as e^(−decay·t)).
    pub decay: f64,
    /// Phase at the onset, radians.
    pub phase: f64,
}

/// Adds to `y` a note of fundamental `f0` Hz from sample `start`, lasting `len` samples
/// (cut at the end of `y`): its `partials`, each with a 5 ms attack, as a plucked string
/// has, and an exponential decay.
pub fn add_note(
    y: &mut [f64],
    rate: f64,
    (start, len): (usize, usize),
    f0: f64,
    partials: impl IntoIterator<Item = Partial>,
) {
    let end = (start + len).min(y.len());
    for p in partials {
        let h = p.harmonic as f64;
        for (i, v) in y[start..end].iter_mut().enumerate() {
            let t = i as f64 / rate;
            let attack = (t / 0.005).min(1.0);
            *v += p.amp * attack * (-t * p.decay).exp() * (2.0 * PI * f0 * h * t + p.phase).sin();
        }
    }
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

/// Least-squares fit of `a·sin(w·n) + b·cos(w·n)` to `x[range]` (`w` in radians per sample,
/// `n` counted from sample 0): `(a, b)`. Exact for a sinusoid of any phase over any span,
/// where [`tone_power`]'s correlation needs whole cycles.
pub fn sine_fit(x: &[f32], w: f64, range: std::ops::Range<usize>) -> (f64, f64) {
    let (mut ss, mut sc, mut cc, mut xs, mut xc) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for n in range {
        let (s, c) = (w * n as f64).sin_cos();
        let v = f64::from(x[n]);
        ss += s * s;
        sc += s * c;
        cc += c * c;
        xs += v * s;
        xc += v * c;
    }
    let det = ss * cc - sc * sc;
    ((xs * cc - xc * sc) / det, (xc * ss - xs * sc) / det)
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

/// `n` samples of Gaussian noise of RMS `rms` band-limited to `low`…`high` Hz (a 2nd-order
/// high-pass and a 4th-order low-pass, Butterworth), as f32 audio.
pub fn band_noise(rng: &mut Rng, n: usize, rate: f64, rms: f64, low: f64, high: f64) -> Vec<f32> {
    use crate::dsp::biquad::{Biquad, BiquadKind};
    let mut x = to_f32(&rng.noise(n, rms));
    for (kind, f) in [
        (BiquadKind::butterworth_high_pass(), low),
        (BiquadKind::butterworth_low_pass(), high),
        (BiquadKind::butterworth_low_pass(), high),
    ] {
        crate::dsp::Processor::process(&mut Biquad::new(1, rate, kind, f).unwrap(), &mut x);
    }
    x
}

/// Side over mid energy below `cut` Hz of interleaved stereo `x`, dB: a brick-wall by FFT
/// over the whole signal, as the benchmark measures it.
pub fn low_side_to_mid_db(x: &[f32], rate: f64, cut: f64) -> f64 {
    let n = x.len() / 2;
    let mut planner = realfft::RealFftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(n);
    let low = |mut v: Vec<f64>| {
        let mut spec = fft.make_output_vec();
        fft.process(&mut v, &mut spec).unwrap();
        spec.iter()
            .enumerate()
            .filter(|(k, _)| (*k as f64) * rate / (n as f64) < cut)
            .map(|(_, c)| c.norm_sqr())
            .sum::<f64>()
    };
    let mid = x
        .chunks_exact(2)
        .map(|f| (f[0] + f[1]) as f64 / 2.0)
        .collect();
    let side = x
        .chunks_exact(2)
        .map(|f| (f[0] - f[1]) as f64 / 2.0)
        .collect();
    10.0 * (low(side) / low(mid)).log10()
}

/// `data` (interleaved, `channels` channels) in an on-disk spool, as the console reads stems.
pub fn spool(data: &[f32], channels: usize) -> crate::io::spool::Spool {
    let mut w = crate::io::spool::SpoolWriter::new(channels).unwrap();
    w.write(data).unwrap();
    w.finish().unwrap()
}

/// A drum stroke for [`drum_hits`]: a `tone_hz` sine under band-limited noise
/// (`noise_band` Hz, `noise_share` of the peak), both decaying with time constant `decay_s`.
#[derive(Debug, Clone, Copy)]
pub struct Stroke {
    /// Pitch of the body, Hz.
    pub tone_hz: f64,
    /// Share of the noise in the peak (0: a pure tone).
    pub noise_share: f64,
    /// Band of the noise, Hz.
    pub noise_band: (f64, f64),
    /// Time constant of the decay, s.
    pub decay_s: f64,
}

/// A kick: 55 Hz body, a little click.
pub const KICK: Stroke = Stroke {
    tone_hz: 55.0,
    noise_share: 0.15,
    noise_band: (1000.0, 6000.0),
    decay_s: 0.08,
};

/// A snare: 190 Hz body under bright wires.
pub const SNARE: Stroke = Stroke {
    tone_hz: 190.0,
    noise_share: 0.7,
    noise_band: (1500.0, 12_000.0),
    decay_s: 0.06,
};

/// `n` samples of `stroke` every `period_s` from `first_s` (`times`: `(first_s, period_s)`),
/// each at peak amplitude `amp` varied by up to ±`spread_db` at random (a player's dynamics).
pub fn drum_hits(
    rng: &mut Rng,
    n: usize,
    rate: f64,
    stroke: Stroke,
    (first_s, period_s): (f64, f64),
    amp: f64,
    spread_db: f64,
) -> Vec<f64> {
    let (lo, hi) = stroke.noise_band;
    let noise = band_noise(rng, n, rate, 1.0, lo, hi.min(0.45 * rate));
    let mut out = vec![0.0; n];
    let mut t0 = first_s;
    while ((t0 * rate) as usize) < n {
        let start = (t0 * rate) as usize;
        let a = amp * 10f64.powf(spread_db * rng.uniform() / 20.0);
        let len = ((8.0 * stroke.decay_s * rate) as usize).min(n - start);
        for i in 0..len {
            let t = i as f64 / rate;
            let env = a * (-t / stroke.decay_s).exp();
            let tone = (2.0 * PI * stroke.tone_hz * t).sin();
            out[start + i] += env
                * ((1.0 - stroke.noise_share) * tone
                    + stroke.noise_share * f64::from(noise[start + i]));
        }
        t0 += period_s;
    }
    out
}

/// `secs` of a kick mic at `rate`: kicks on every beat at 120 BPM from 0.1 s (peaks
/// −6 dBFS ± 1.5 dB) over −70 dBFS hiss; and, apart, snares on the off-beats `below_db`
/// under the kicks' amplitude, the bleed to add to it.
pub fn kick_and_snare_bleed(
    rng: &mut Rng,
    secs: f64,
    rate: f64,
    below_db: f64,
) -> (Vec<f64>, Vec<f64>) {
    let n = (secs * rate) as usize;
    let mut kick = drum_hits(rng, n, rate, KICK, (0.1, 0.5), 0.5, 1.5);
    for (v, e) in kick.iter_mut().zip(rng.noise(n, 10f64.powf(-70.0 / 20.0))) {
        *v += e;
    }
    let amp = 0.5 * 10f64.powf(-below_db / 20.0);
    let bleed = drum_hits(rng, n, rate, SNARE, (0.35, 0.5), amp, 1.0);
    (kick, bleed)
}

/// Third-octave band frames (at the analysis hop, 100 ms windows) from a level function
/// `(frame, band) → dB`, for the models that read band frames.
pub fn band_frames(
    n: usize,
    level: impl Fn(usize, usize) -> f64,
) -> crate::analysis::spectrum::BandFrames {
    use crate::analysis::spectrum::{BandFrames, FRAME_HOP_S, THIRD_OCTAVE_BANDS};
    let db: Vec<f32> = (0..n)
        .flat_map(|t| (0..THIRD_OCTAVE_BANDS).map(move |b| (t, b)))
        .map(|(t, b)| level(t, b) as f32)
        .collect();
    BandFrames::from_db(FRAME_HOP_S, 0.1, THIRD_OCTAVE_BANDS, &db).unwrap()
}

/// Index of the third-octave band with nominal centre `freq` Hz.
pub fn band_at(freq: f64) -> usize {
    crate::analysis::spectrum::THIRD_OCTAVE_NOMINAL_HZ
        .iter()
        .position(|&f| f == freq)
        .unwrap()
}
