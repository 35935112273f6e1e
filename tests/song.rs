//! A small song generated in code: stems with the spectra and envelopes of real parts,
//! for tests that need a mix to happen.

use std::f64::consts::PI;
use std::path::Path;

/// Seeded xorshift64* so test material is the same on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    /// Uniform in [-1, 1).
    pub fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (x >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// One stem: its file name, channels and interleaved samples.
pub struct Stem {
    pub name: &'static str,
    pub channels: u16,
    pub samples: Vec<f32>,
}

fn env_decay(t: f64, tau: f64) -> f64 {
    (-t / tau).exp()
}

/// Makes a song of `secs` seconds at `rate` Hz, 120 BPM. Stem levels are deliberately
/// uneven (as recorded), so the engineer has to balance them.
pub fn make(rate: u32, secs: f64) -> Vec<Stem> {
    let n = (rate as f64 * secs) as usize;
    let fs = rate as f64;
    let beat = 0.5;
    let mut rng = Rng::new(7);
    let mut kick = vec![0.0f32; n];
    let mut snare = vec![0.0f32; n];
    let mut bass = vec![0.0f32; n];
    let mut vocal = vec![0.0f32; n];
    let mut guitar = vec![0.0f32; n];
    let mut pad = vec![0.0f32; 2 * n];
    let bass_notes = [55.0, 55.0, 73.4, 65.4];
    for i in 0..n {
        let t = i as f64 / fs;
        let tb = t % beat;
        let bar_beat = ((t / beat) as usize) % 4;
        // Kick on 1 and 3: a pitch-dropping sine thump.
        if bar_beat.is_multiple_of(2) {
            let f = 50.0 + 90.0 * env_decay(tb, 0.03);
            kick[i] = (0.8 * env_decay(tb, 0.12) * (2.0 * PI * f * tb).sin()) as f32;
        }
        // Snare on 2 and 4: noise plus a 190 Hz body.
        if bar_beat % 2 == 1 {
            let e = env_decay(tb, 0.08);
            snare[i] = (0.3 * e * (rng.next() + 0.5 * (2.0 * PI * 190.0 * tb).sin())) as f32;
        }
        // Bass: a rounded saw following the roots, one note per bar.
        let f = bass_notes[((t / (4.0 * beat)) as usize) % 4];
        let mut b = 0.0;
        for k in 1..8 {
            b += (2.0 * PI * f * k as f64 * t).sin() / k as f64;
        }
        bass[i] = (0.15 * b * (0.6 + 0.4 * env_decay(tb, 0.3))) as f32;
        // Vocal: phrases of 1.5 s with 0.5 s breaths; a vowel-like harmonic tone with vibrato.
        let phrase = t % 2.0;
        if phrase < 1.5 {
            let f0 = 220.0 * (1.0 + 0.01 * (2.0 * PI * 5.5 * t).sin());
            let mut v = 0.0;
            for k in 1..20 {
                let fk = f0 * k as f64;
                // Formants near 700 and 1200 Hz.
                let amp = (-((fk - 700.0) / 300.0).powi(2)).exp()
                    + 0.6 * (-((fk - 1200.0) / 400.0).powi(2)).exp()
                    + 0.05;
                v += amp * (2.0 * PI * fk * t).sin();
            }
            let edge = (phrase / 0.05).min(1.0) * ((1.5 - phrase) / 0.05).min(1.0);
            vocal[i] = (0.05 * v * edge) as f32;
        }
        // Guitar: eighth-note strums, bright.
        let te = t % (beat / 2.0);
        let mut g = 0.0;
        for (k, f) in [196.0, 246.9, 293.7, 392.0].iter().enumerate() {
            g += (2.0 * PI * f * t + k as f64).sin().signum() * 0.25;
        }
        guitar[i] = (0.4 * g * env_decay(te, 0.15)) as f32;
        // Pad: slow stereo chord, detuned sides.
        let l = (2.0 * PI * 261.6 * t).sin() + (2.0 * PI * 329.6 * t).sin();
        let r = (2.0 * PI * 262.4 * t).sin() + (2.0 * PI * 330.4 * t).sin();
        let swell = 0.5 - 0.5 * (2.0 * PI * t / 4.0).cos();
        pad[2 * i] = (0.1 * l * swell) as f32;
        pad[2 * i + 1] = (0.1 * r * swell) as f32;
    }
    vec![
        Stem {
            name: "kick",
            channels: 1,
            samples: kick,
        },
        Stem {
            name: "snare",
            channels: 1,
            samples: snare,
        },
        Stem {
            name: "bass",
            channels: 1,
            samples: bass,
        },
        Stem {
            name: "lead vocal",
            channels: 1,
            samples: vocal,
        },
        Stem {
            name: "guitar",
            channels: 1,
            samples: guitar,
        },
        Stem {
            name: "pad",
            channels: 2,
            samples: pad,
        },
    ]
}

/// Writes `stems` as 24-bit WAV files into `dir`.
pub fn write(dir: &Path, rate: u32, stems: &[Stem]) {
    for s in stems {
        let spec = hound::WavSpec {
            channels: s.channels,
            sample_rate: rate,
            bits_per_sample: 24,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(dir.join(format!("{}.wav", s.name)), spec).unwrap();
        for &x in &s.samples {
            w.write_sample((x.clamp(-1.0, 1.0) * 8_388_607.0).round() as i32)
                .unwrap();
        }
        w.finalize().unwrap();
    }
}
