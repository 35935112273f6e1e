//! Every input format and rate of the contract, mixed together in one session.

use std::path::Path;

use crate::cli::{mixwright, read};
use crate::fixtures::{SampleFormat, WavHeader, encode_with_ffmpeg, test_signal, write_wav_with};

/// (file name, rate, channels, format, header, encode to this extension via ffmpeg)
type Stem = (
    &'static str,
    u32,
    u16,
    SampleFormat,
    WavHeader,
    Option<&'static str>,
);

const STEMS: &[Stem] = &[
    (
        "bass i16",
        44_100,
        1,
        SampleFormat::Int16,
        WavHeader::Plain,
        None,
    ),
    (
        "keys i24 ext",
        48_000,
        2,
        SampleFormat::Int24,
        WavHeader::Extensible,
        None,
    ),
    (
        "kick i32 bwf",
        96_000,
        1,
        SampleFormat::Int32,
        WavHeader::Bwf,
        None,
    ),
    (
        "pad f32",
        22_050,
        2,
        SampleFormat::Float32,
        WavHeader::Plain,
        None,
    ),
    (
        "snare f64",
        8_000,
        1,
        SampleFormat::Float64,
        WavHeader::Plain,
        None,
    ),
    (
        "strings",
        192_000,
        2,
        SampleFormat::Int24,
        WavHeader::Plain,
        Some("flac"),
    ),
    (
        "guitar",
        32_000,
        1,
        SampleFormat::Int16,
        WavHeader::Plain,
        Some("aiff"),
    ),
    (
        "vocal",
        44_100,
        1,
        SampleFormat::Int16,
        WavHeader::Plain,
        Some("mp3"),
    ),
    (
        "synth",
        48_000,
        2,
        SampleFormat::Int16,
        WavHeader::Plain,
        Some("ogg"),
    ),
    (
        "brass",
        11_025,
        1,
        SampleFormat::Int24,
        WavHeader::Plain,
        None,
    ),
    (
        "perc",
        176_400,
        1,
        SampleFormat::Float32,
        WavHeader::Extensible,
        None,
    ),
    ("fx", 88_200, 2, SampleFormat::Int16, WavHeader::Plain, None),
    (
        "tom",
        16_000,
        1,
        SampleFormat::Int16,
        WavHeader::Plain,
        None,
    ),
];

fn make_folder(dir: &Path, secs: f64) {
    let scratch = tempfile::tempdir().unwrap();
    for (i, &(name, rate, ch, fmt, header, encode)) in STEMS.iter().enumerate() {
        let frames = (rate as f64 * secs) as usize;
        let signal = test_signal(rate, ch as usize, frames, i as u64 + 1);
        match encode {
            None => write_wav_with(
                &dir.join(format!("{name}.wav")),
                rate,
                ch,
                fmt,
                header,
                &signal,
            )
            .unwrap(),
            Some(ext) => {
                let wav = scratch.path().join(format!("{name}.wav"));
                write_wav_with(&wav, rate, ch, fmt, header, &signal).unwrap();
                encode_with_ffmpeg(&wav, &dir.join(format!("{name}.{ext}"))).unwrap();
            }
        }
    }
}

#[test]
fn every_format_and_rate_mixes_together() {
    let dir = tempfile::tempdir().unwrap();
    make_folder(dir.path(), 2.0);
    let out = tempfile::tempdir().unwrap();
    // 44.1 and 48 kHz tie with two stems each: the higher rate wins.
    for (rate, args) in [(48_000u32, vec![]), (96_000, vec!["--rate", "96000"])] {
        let mix = out.path().join(format!("mix-{rate}.flac"));
        let mut a = vec![
            "mix",
            dir.path().to_str().unwrap(),
            "-o",
            mix.to_str().unwrap(),
            "-q",
            "--json",
        ];
        a.extend(args);
        let o = mixwright(&a);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["tracks"].as_array().unwrap().len(), STEMS.len());
        assert_eq!(v["sample_rate"], rate);
        let (got_rate, ch, samples) = read(&mix);
        assert_eq!((got_rate, ch), (rate, 2));
        // Two seconds at the session rate (an MP3's decoder padding may add a few ms).
        let secs = samples.len() as f64 / 2.0 / rate as f64;
        assert!((secs - 2.0).abs() < 0.06, "{secs} s");
        assert!(samples.iter().all(|x| x.is_finite()));
        let lufs = v["master"]["integrated_lufs"].as_f64().unwrap();
        assert!((lufs + 14.0).abs() <= 0.1, "{lufs}");
    }
}

#[test]
fn analyze_reads_every_format_at_its_own_rate() {
    let dir = tempfile::tempdir().unwrap();
    make_folder(dir.path(), 1.0);
    let mut files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut args = vec!["analyze".to_string(), "--json".to_string()];
    args.extend(files.iter().map(|p| p.to_str().unwrap().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = mixwright(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for entry in v.as_array().unwrap() {
        let file = entry["file"].as_str().unwrap();
        let stem = Path::new(file).file_stem().unwrap().to_str().unwrap();
        let &(_, rate, ch, ..) = STEMS.iter().find(|s| s.0 == stem).unwrap();
        assert_eq!(entry["sample_rate"], rate, "{file}");
        assert_eq!(entry["channels"], ch, "{file}");
        assert!(entry["integrated_lufs"].as_f64().unwrap() < -5.0, "{file}");
    }
}
