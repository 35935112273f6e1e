//! `mixwright repair`: clean input passes through bit for bit; a found problem is fixed.

use mixwright::Quiet;

use crate::fixtures::{SampleFormat, write_wav};

/// A clean recording: three sines with 20 ms fades, peak well below full scale.
fn clean(rate: u32, frames: usize) -> Vec<f32> {
    (0..frames)
        .map(|n| {
            let t = n as f64 / f64::from(rate);
            let fade = (n.min(frames - 1 - n) as f64 / (0.02 * f64::from(rate))).min(1.0);
            let s: f64 = [(220.0, 0.2), (331.0, 0.1), (1_234.5, 0.05)]
                .iter()
                .map(|&(f, a)| a * (std::f64::consts::TAU * f * t).sin())
                .sum();
            (fade * s) as f32
        })
        .collect()
}

fn read_f32(path: &std::path::Path) -> Vec<f32> {
    let mut r = hound::WavReader::open(path).unwrap();
    r.samples::<f32>().map(|s| s.unwrap()).collect()
}

#[test]
fn clean_input_is_copied_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("guitar.wav");
    let x = clean(44_100, 44_100 * 3);
    write_wav(&input, 44_100, 1, SampleFormat::Float32, &x).unwrap();
    let out = dir.path().join("out.wav");
    let r = mixwright::repair_file(&input, &out, None, None, &Quiet).unwrap();
    assert_eq!(r.problems.summary(), "none");
    assert!(r.repair.is_off() && r.notes.is_empty());
    assert_eq!(read_f32(&out), x);
}

#[test]
fn a_dc_offset_is_found_and_removed_and_the_input_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bass.wav");
    let x: Vec<f32> = clean(44_100, 44_100 * 3).iter().map(|v| v + 0.02).collect();
    write_wav(&input, 44_100, 1, SampleFormat::Float32, &x).unwrap();
    assert!(mixwright::repair_file(&input, &input, None, None, &Quiet).is_err());
    let out = dir.path().join("out.wav");
    let r = mixwright::repair_file(&input, &out, None, None, &Quiet).unwrap();
    assert!(r.repair.dc, "found: {}", r.problems.summary());
    let y = read_f32(&out);
    let mean = |v: &[f32]| v.iter().map(|&s| f64::from(s)).sum::<f64>() / v.len() as f64;
    // Over the last two seconds (the high-pass has settled) the offset is gone.
    assert!(
        mean(&y[44_100..]).abs() < 1e-4,
        "mean {}",
        mean(&y[44_100..])
    );
    assert_eq!(read_f32(&input), x);
}
