//! Writes a generated multitrack for speed and memory measurements:
//! `cargo run --release --example make_session -- <DIR> <STEMS> <MINUTES> [RATE] [mono]`.
//! Every fourth stem is stereo unless `mono` is given (a live multitrack is all mono).
//! Each stem is 24-bit WAV with its own mix of tones, noise bursts and silences, so that
//! analysis and mixing do real work; deterministic.

use std::f64::consts::TAU;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: make_session <DIR> <STEMS> <MINUTES> [RATE] [mono]");
        std::process::exit(2);
    }
    let dir = std::path::PathBuf::from(&args[1]);
    let stems: usize = args[2].parse().expect("stem count");
    let minutes: f64 = args[3].parse().expect("minutes");
    let rate: u32 = args.get(4).map_or(44_100, |r| r.parse().expect("rate"));
    let all_mono = args.get(5).is_some_and(|a| a == "mono");
    std::fs::create_dir_all(&dir).expect("create folder");
    let names = [
        "kick", "snare", "hat", "bass", "guitar", "keys", "pad", "vocal", "strings", "brass",
        "synth", "perc",
    ];
    let frames = (minutes * 60.0 * rate as f64) as usize;
    for i in 0..stems {
        let name = format!("{:02} {}", i + 1, names[i % names.len()]);
        let channels = if i % 4 == 3 && !all_mono { 2 } else { 1 };
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 24,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w =
            hound::WavWriter::create(dir.join(format!("{name}.wav")), spec).expect("create stem");
        let f0 = 55.0 * 2f64.powf(i as f64 / 4.0);
        let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ i as u64;
        for n in 0..frames {
            let t = n as f64 / rate as f64;
            // Plays 7 bars out of 8 with a per-stem phase so the activity differs.
            let playing = !((t / 2.0) as usize + i).is_multiple_of(8);
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let noise = (seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            let env = (-(t % 0.5) / 0.15).exp();
            let tone = (TAU * f0 * t).sin() + 0.3 * (TAU * 2.0 * f0 * t).sin();
            let x = if playing {
                0.2 * tone * env + 0.05 * noise * env
            } else {
                0.0
            };
            for c in 0..channels {
                let v = if c == 1 { x * 0.9 } else { x };
                w.write_sample((v * 8_388_607.0) as i32).expect("write");
            }
        }
        w.finalize().expect("finish stem");
    }
}
