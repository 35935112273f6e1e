//! Benchmark of the analysis stage on a generated 12-stem, 4-minute session (48 kHz,
//! 24-bit WAV, mono and stereo stems), beside two independent meters measuring the same
//! files in the same run: ffmpeg's ebur128 filter (peak=true) and pyloudnorm.
//!
//!     cargo bench --bench analysis
//!
//! The stems are written once to target/bench-analysis/ and reused. ffmpeg is taken from
//! PATH; pyloudnorm from $MW_PYTHON, else scripts/.venv (made by scripts/meter_check.py).
//! Either is skipped, with a note, when missing. Times are wall-clock medians.

use std::f64::consts::PI;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use mixwright::analysis::masking::{AudibilityCriterion, MaskingModel};
use mixwright::{Quiet, analyze_files};

const RATE: u32 = 48_000;
const SECONDS: f64 = 240.0;
const RUNS: usize = 3;

/// xorshift64*: uniform in [-1, 1).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// One stem's sample at time `t` (seconds), per channel; `rng` supplies noise.
type Voice = fn(f64, &mut Rng) -> [f64; 2];

fn stems() -> Vec<(&'static str, usize, Voice)> {
    fn beat(t: f64) -> (f64, usize) {
        (t % 0.5, ((t / 0.5) as usize) % 4)
    }
    fn mono(x: f64) -> [f64; 2] {
        [x, x]
    }
    vec![
        ("kick", 1, |t, _| {
            let (b, n) = beat(t);
            let f = 50.0 + 90.0 * (-b / 0.03).exp();
            mono(if n % 2 == 0 {
                0.8 * (-b / 0.12).exp() * (2.0 * PI * f * b).sin()
            } else {
                0.0
            })
        }),
        ("snare", 1, |t, r| {
            let (b, n) = beat(t);
            let e = (-b / 0.08).exp();
            mono(if n % 2 == 1 {
                e * (0.4 * r.next() + 0.3 * (2.0 * PI * 190.0 * b).sin())
            } else {
                0.0
            })
        }),
        ("hats", 2, |t, r| {
            let e = (-(t % 0.125) / 0.015).exp() * 0.2;
            [e * r.next(), e * r.next()]
        }),
        ("bass", 1, |t, _| {
            let f = [55.0, 55.0, 73.42, 65.41][((t / 2.0) as usize) % 4];
            let x = (2.0 * PI * f * t).sin() + 0.3 * (4.0 * PI * f * t).sin();
            mono(0.4 * x * (0.6 + 0.4 * (-(t % 0.5) / 0.2).exp()))
        }),
        ("guitar", 2, |t, _| {
            let f = [196.0, 246.94, 293.66][((t / 0.25) as usize) % 3];
            let x = (0..6)
                .map(|k| (2.0 * PI * f * (k + 1) as f64 * t).sin() / (k + 1) as f64)
                .sum::<f64>();
            let e = 0.2 * (-(t % 0.25) / 0.1).exp();
            [e * x, 0.6 * e * x]
        }),
        ("keys", 2, |t, _| {
            let x = [261.63, 329.63, 392.0]
                .iter()
                .map(|f| (2.0 * PI * f * t).sin())
                .sum::<f64>();
            let e = 0.1 * (-(t % 2.0) / 0.8).exp();
            [e * x, e * (x + 0.1 * (2.0 * PI * 523.25 * t).sin())]
        }),
        ("pad", 2, |t, _| {
            let s = 0.5 + 0.5 * (2.0 * PI * t / 8.0).sin().powi(2);
            let x = [220.0, 277.18, 329.63]
                .iter()
                .map(|f| (2.0 * PI * f * t).sin())
                .sum::<f64>();
            [0.08 * s * x, 0.08 * s * (2.0 * PI * 164.81 * t).sin()]
        }),
        ("lead_vocal", 1, |t, _| {
            let f0 = 220.0 * (1.0 + 0.01 * (2.0 * PI * 5.0 * t).sin());
            let x = (1..10)
                .map(|k| (2.0 * PI * f0 * k as f64 * t).sin() / k as f64)
                .sum::<f64>();
            mono(if t % 4.0 < 3.0 { 0.2 * x } else { 0.0 })
        }),
        ("backing_vocals", 2, |t, _| {
            let x = (2.0 * PI * 330.0 * t).sin() + 0.5 * (2.0 * PI * 660.0 * t).sin();
            let on = if t % 8.0 > 4.0 { 0.1 } else { 0.0 };
            [on * x, on * (2.0 * PI * 392.0 * t).sin()]
        }),
        ("percussion", 2, |t, r| {
            let e = (-(t % 0.375) / 0.04).exp() * 0.3;
            [e * (2.0 * PI * 800.0 * t).sin(), e * r.next() * 0.5]
        }),
        ("fx", 2, |t, r| {
            let s = (t % 16.0) / 16.0;
            [0.05 * s * r.next(), 0.05 * (1.0 - s) * r.next()]
        }),
        ("room", 2, |_, r| [0.01 * r.next(), 0.01 * r.next()]),
    ]
}

fn write_session(dir: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).expect("bench folder");
    let n = (RATE as f64 * SECONDS) as usize;
    stems()
        .into_iter()
        .enumerate()
        .map(|(i, (name, channels, voice))| {
            let path = dir.join(format!("{:02}_{name}.wav", i + 1));
            let bytes = 44 + n * channels * 3;
            if std::fs::metadata(&path).is_ok_and(|m| m.len() as usize == bytes) {
                return path;
            }
            let spec = hound::WavSpec {
                channels: channels as u16,
                sample_rate: RATE,
                bits_per_sample: 24,
                sample_format: hound::SampleFormat::Int,
            };
            let mut w = hound::WavWriter::create(&path, spec).expect("create stem");
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1));
            for k in 0..n {
                let v = voice(k as f64 / RATE as f64, &mut rng);
                for s in &v[..channels] {
                    w.write_sample((s.clamp(-1.0, 1.0) * 8_388_607.0) as i32)
                        .expect("write");
                }
            }
            w.finalize().expect("finish stem");
            path
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let start = Instant::now();
    let out = f();
    (start.elapsed().as_secs_f64(), out)
}

fn ffmpeg(paths: &[PathBuf]) -> Option<f64> {
    let (secs, ok) = time(|| {
        paths.iter().all(|p| {
            Command::new("ffmpeg")
                .args(["-hide_banner", "-nostats", "-i"])
                .arg(p)
                .args(["-af", "ebur128=peak=true", "-f", "null", "-"])
                .output()
                .is_ok_and(|o| o.status.success())
        })
    });
    ok.then_some(secs)
}

fn pyloudnorm(paths: &[PathBuf]) -> Option<f64> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var_os("MW_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("scripts/.venv/bin/python"));
    let code = "import sys, time, soundfile, pyloudnorm\n\
                t = time.perf_counter()\n\
                for f in sys.argv[1:]:\n\
                \x20   x, r = soundfile.read(f)\n\
                \x20   pyloudnorm.Meter(r).integrated_loudness(x)\n\
                print(time.perf_counter() - t)\n";
    let out = Command::new(&python)
        .arg("-c")
        .arg(code)
        .args(paths)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-analysis");
    let (gen_s, paths) = time(|| write_session(&dir));
    let audio_s = SECONDS * paths.len() as f64;
    println!(
        "session: {} stems x {SECONDS} s at {RATE} Hz in {} (ready in {gen_s:.1} s)",
        paths.len(),
        dir.display()
    );

    let mut parallel = Vec::new();
    let mut analyses = Vec::new();
    for _ in 0..RUNS {
        let (s, a) = time(|| analyze_files(&paths, &Quiet).expect("analysis"));
        parallel.push(s);
        analyses = a;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    let serial: Vec<f64> = (0..RUNS)
        .map(|_| pool.install(|| time(|| analyze_files(&paths, &Quiet).expect("analysis")).0))
        .collect();
    let (par, ser) = (median(parallel), median(serial));
    let cores = rayon::current_num_threads();
    println!(
        "mixwright analyze (decode + loudness + true peak + spectra), median of {RUNS}:\n  \
         {cores} threads: {par:.2} s ({:.4} of real time)\n  1 thread:  {ser:.2} s ({:.4} of real time)",
        par / audio_s,
        ser / audio_s
    );

    let frames: Vec<_> = analyses
        .iter()
        .map(|(_, _, a)| &a.spectrum.frames)
        .collect();
    let (build_s, model) = time(|| MaskingModel::new(&frames).expect("masking model"));
    let gains = vec![0.0; frames.len()];
    let crit = AudibilityCriterion::default();
    let calls: Vec<f64> = (0..20)
        .map(|_| time(|| model.audibility(&gains, 85.0, &crit).expect("audibility")).0)
        .collect();
    println!(
        "masking: model {:.1} ms once, audibility() {:.1} ms per call (median of 20, {} frames x {} tracks)",
        build_s * 1e3,
        median(calls) * 1e3,
        model.frames(),
        model.tracks()
    );

    match ffmpeg(&paths) {
        Some(s) => println!(
            "ffmpeg ebur128=peak=true, files one after another: {s:.2} s; mixwright 1 thread is {:.2}x faster",
            s / ser
        ),
        None => println!("ffmpeg: not found or failed, skipped"),
    }
    match pyloudnorm(&paths) {
        Some(s) => println!(
            "pyloudnorm (read + integrated only), one after another: {s:.2} s; mixwright 1 thread is {:.2}x faster",
            s / ser
        ),
        None => println!(
            "pyloudnorm: no Python with it (set MW_PYTHON or run scripts/meter_check.py), skipped"
        ),
    }
}
