//! Hostile and odd files, each generated here: every one gives a clean mix or a clear error
//! with exit status 2 naming the file, never a panic, never a hang (each run has a deadline),
//! never a leftover. Plus a full disk and session files of another format version.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mixwright::analysis::loudness::LoudnessMeter;

use crate::cli::read;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Longest any run may take before it counts as a hang.
const DEADLINE: Duration = Duration::from_secs(120);

struct Run {
    code: Option<i32>,
    stderr: String,
}

/// Runs the binary with a deadline: a run past it is killed and fails the test as a hang.
fn run(args: &[&str]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mixwright"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        err_pipe.read_to_string(&mut s).unwrap();
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > DEADLINE {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("hang: {args:?} still running after {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stderr = reader.join().unwrap();
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    Run {
        code: status.code(),
        stderr,
    }
}

/// A RIFF/WAVE file from its chunks, with the RIFF size as given (`None`: the true size).
fn riff(chunks: &[(&[u8; 4], u32, &[u8])], riff_size: Option<u32>) -> Vec<u8> {
    let mut body = b"WAVE".to_vec();
    for (id, len, data) in chunks {
        body.extend_from_slice(*id);
        body.extend_from_slice(&len.to_le_bytes());
        body.extend_from_slice(data);
    }
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&riff_size.unwrap_or(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// A `fmt ` chunk body: format tag, channels, rate, bits.
fn fmt(tag: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
    let align = channels * bits / 8;
    let mut f = Vec::new();
    f.extend_from_slice(&tag.to_le_bytes());
    f.extend_from_slice(&channels.to_le_bytes());
    f.extend_from_slice(&rate.to_le_bytes());
    f.extend_from_slice(&(rate * u32::from(align)).to_le_bytes());
    f.extend_from_slice(&align.to_le_bytes());
    f.extend_from_slice(&bits.to_le_bytes());
    f
}

/// A WAV of 16-bit mono samples with every header field as given.
fn wav16(rate: u32, channels: u16, samples: &[i16], data_len: Option<u32>) -> Vec<u8> {
    let data: Vec<u8> = samples.iter().flat_map(|x| x.to_le_bytes()).collect();
    let f = fmt(1, channels, rate, 16);
    riff(
        &[
            (b"fmt ", 16, &f),
            (b"data", data_len.unwrap_or(data.len() as u32), &data),
        ],
        None,
    )
}

/// A 64-bit float WAV.
fn wav_f64(rate: u32, samples: &[f64]) -> Vec<u8> {
    let data: Vec<u8> = samples.iter().flat_map(|x| x.to_le_bytes()).collect();
    let f = fmt(3, 1, rate, 64);
    riff(
        &[(b"fmt ", 16, &f), (b"data", data.len() as u32, &data)],
        None,
    )
}

fn tone(rate: u32, secs: f64) -> Vec<i16> {
    (0..(rate as f64 * secs) as usize)
        .map(|i| (8000.0 * (i as f64 * 440.0 * std::f64::consts::TAU / rate as f64).sin()) as i16)
        .collect()
}

/// Mixes the one file `name` holding `bytes`; asserts exit status 2 with a message naming
/// it and containing `says`, nothing left in the output folder, the input unchanged.
fn refused(name: &str, bytes: &[u8], says: &str) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join(name);
    std::fs::write(&input, bytes).unwrap();
    let out = tempfile::tempdir().unwrap();
    let mix = out.path().join("mix.wav");
    let r = run(&["mix", s(&input), "-o", s(&mix), "-q"]);
    assert_eq!(r.code, Some(2), "{name}: {}", r.stderr);
    assert!(r.stderr.contains(name), "{name}: not named: {}", r.stderr);
    assert!(
        r.stderr.contains(says),
        "{name}: should say {says:?}: {}",
        r.stderr
    );
    let left: Vec<PathBuf> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "{name}: left {left:?}");
    assert_eq!(
        std::fs::read(&input).unwrap(),
        bytes,
        "{name}: input changed"
    );
}

/// Mixes `stems` (name, bytes); returns the delivered mix's loudness and the warnings.
fn mixed(stems: &[(&str, Vec<u8>)]) -> (mixwright::analysis::loudness::Loudness, String) {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in stems {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let mix = out.path().join("mix.wav");
    let r = run(&["mix", s(dir.path()), "-o", s(&mix), "-q"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let (rate, ch, samples) = read(&mix);
    assert!(
        samples.iter().all(|x| x.abs() < 1.0),
        "a sample at full scale"
    );
    let mut m = LoudnessMeter::new(ch, rate, true);
    m.push(&samples);
    (m.finish().unwrap(), r.stderr)
}

#[test]
fn wrong_headers_are_refused_by_name() {
    let good = wav16(44_100, 1, &tone(44_100, 1.0), None);
    let mut not_wave = good.clone();
    not_wave[8..12].copy_from_slice(b"WAVX");
    refused("not_wave.wav", &not_wave, "unsupported format");
    let mut odd_codec = good.clone();
    odd_codec[20..22].copy_from_slice(&0x1234u16.to_le_bytes());
    refused("odd_codec.wav", &odd_codec, "odd_codec.wav");
    refused(
        "no_fmt.wav",
        &riff(&[(b"data", 4, &[0, 0, 0, 0])], None),
        "no_fmt.wav",
    );
    let f = fmt(1, 1, 44_100, 13);
    refused(
        "13_bits.wav",
        &riff(&[(b"fmt ", 16, &f), (b"data", 4, &[0; 4])], None),
        "13_bits.wav",
    );
    refused(
        "text.wav",
        b"this is not audio at all, only words",
        "unsupported format",
    );
}

#[test]
fn huge_declared_sizes_on_tiny_files_are_refused_quickly() {
    let samples = tone(44_100, 0.1);
    // A data chunk claiming 4 GB on a file of a few kilobytes: beyond its RIFF size...
    refused(
        "huge_data.wav",
        &wav16(44_100, 1, &samples, Some(u32::MAX)),
        "corrupt",
    );
    // ... and with the RIFF size claiming it too.
    let mut both = wav16(44_100, 1, &samples, Some(u32::MAX - 64));
    both[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    refused("huge_riff_data.wav", &both, "truncated");
    // The RIFF size and a `fmt ` chunk length at 4 GB.
    let data: Vec<u8> = samples.iter().flat_map(|x| x.to_le_bytes()).collect();
    let f = fmt(1, 1, 44_100, 16);
    let huge_fmt = riff(
        &[
            (b"fmt ", u32::MAX - 8, &f),
            (b"data", data.len() as u32, &data),
        ],
        Some(u32::MAX),
    );
    refused("huge_fmt.wav", &huge_fmt, "huge_fmt.wav");
    // An unknown chunk claiming 4 GB before the data.
    let huge_junk = riff(
        &[
            (b"fmt ", 16, &f),
            (b"junk", u32::MAX - 64, &[0; 16]),
            (b"data", data.len() as u32, &data),
        ],
        Some(u32::MAX),
    );
    refused("huge_junk.wav", &huge_junk, "huge_junk.wav");
}

#[test]
fn zero_channels_and_truncated_frames_are_refused() {
    let samples = tone(44_100, 4.0);
    refused("zero_ch.wav", &wav16(44_100, 0, &samples, None), "got 0");
    // Stereo 16-bit whose file ends one byte into a frame the header declares.
    let data: Vec<u8> = samples.iter().flat_map(|x| x.to_le_bytes()).collect();
    let f = fmt(1, 2, 44_100, 16);
    let whole = riff(
        &[(b"fmt ", 16, &f), (b"data", data.len() as u32, &data)],
        None,
    );
    refused("cut_frame.wav", &whole[..whole.len() - 3], "truncated");
    // A data length that is not a whole number of frames: the whole frames are the audio
    // (as every WAV reader does), a clean mix.
    let odd = &data[..data.len() / 4 * 4 - 3];
    let (l, _) = mixed(&[(
        "odd_length.wav",
        riff(&[(b"fmt ", 16, &f), (b"data", odd.len() as u32, odd)], None),
    )]);
    assert!((l.integrated_lufs.unwrap() + 14.0).abs() <= 0.5, "{l:?}");
}

/// An ID3v2.4 tag (a title frame) of `pad` extra zero bytes.
fn id3(pad: usize) -> Vec<u8> {
    let mut frame = b"TIT2".to_vec();
    let text = b"\x03only a tag";
    frame.extend_from_slice(&(text.len() as u32).to_be_bytes());
    frame.extend_from_slice(&[0, 0]);
    frame.extend_from_slice(text);
    frame.resize(frame.len() + pad, 0);
    let size = frame.len() as u32;
    // Tag sizes are "syncsafe": 7 bits per byte.
    let syncsafe = [
        (size >> 21) as u8 & 0x7f,
        (size >> 14) as u8 & 0x7f,
        (size >> 7) as u8 & 0x7f,
        size as u8 & 0x7f,
    ];
    let mut tag = b"ID3\x04\x00\x00".to_vec();
    tag.extend_from_slice(&syncsafe);
    tag.extend_from_slice(&frame);
    tag
}

#[test]
fn a_file_of_tags_only_is_refused() {
    refused("tag_only.mp3", &id3(0), "tag_only.mp3");
    refused("tag_padded.mp3", &id3(4096), "tag_padded.mp3");
    // A tag that claims more bytes than the file has.
    let mut lying = id3(0);
    lying[6..10].copy_from_slice(&[0x7f, 0x7f, 0x7f, 0x7f]);
    refused("tag_lying.mp3", &lying, "tag_lying.mp3");
}

#[test]
fn extreme_sample_rates_are_refused_or_mixed() {
    refused("one_hz.wav", &wav16(1, 1, &[1000; 8], None), "got 1 Hz");
    refused(
        "384k.wav",
        &wav16(384_000, 1, &tone(384_000, 0.5), None),
        "got 384000 Hz",
    );
    for rate in [8_000, 192_000] {
        let (l, _) = mixed(&[("tone.wav", wav16(rate, 1, &tone(rate, 5.0), None))]);
        let lufs = l.integrated_lufs.unwrap();
        assert!((lufs + 14.0).abs() <= 0.5, "{rate} Hz: {lufs} LUFS");
        assert!(l.true_peak_dbtp.unwrap() <= -1.0, "{rate} Hz: {l:?}");
    }
}

#[test]
fn non_finite_double_floats_are_refused_naming_the_file() {
    for (name, bad) in [
        ("nan64.wav", f64::NAN),
        ("inf64.wav", f64::INFINITY),
        ("neginf64.wav", f64::NEG_INFINITY),
        ("toobig64.wav", 1e300),
    ] {
        let mut x: Vec<f64> = (0..44_100).map(|i| (i as f64 * 0.05).sin() * 0.3).collect();
        x[20_000] = bad;
        refused(name, &wav_f64(44_100, &x), "non-finite");
    }
}

#[test]
fn full_scale_dc_and_square_waves_are_delivered_within_target_without_clipping() {
    let rate = 44_100;
    let n = rate as usize * 6;
    // Square waves at 0 dBFS (integer rails), two pitches so the tracks differ.
    let square = |period: usize| -> Vec<i16> {
        (0..n)
            .map(|i| {
                if (i / period).is_multiple_of(2) {
                    i16::MAX
                } else {
                    i16::MIN
                }
            })
            .collect()
    };
    let (l, _) = mixed(&[
        ("square_a.wav", wav16(rate, 1, &square(50), None)),
        ("square_b.wav", wav16(rate, 1, &square(73), None)),
    ]);
    let lufs = l.integrated_lufs.unwrap();
    assert!((lufs + 14.0).abs() <= 0.5, "squares: {lufs} LUFS");
    assert!(l.true_peak_dbtp.unwrap() <= -1.0, "squares: {l:?}");
    // Full-scale DC under a tone: the DC must not push the mix over its ceiling.
    let dc_tone: Vec<i16> = tone(rate, 6.0)
        .iter()
        .map(|&t| (i32::from(t) / 2 + 16_000) as i16)
        .collect();
    let (l, warnings) = mixed(&[
        ("dc.wav", wav16(rate, 1, &vec![i16::MAX; n], None)),
        ("dc_tone.wav", wav16(rate, 1, &dc_tone, None)),
    ]);
    assert!(l.true_peak_dbtp.unwrap() <= -1.0, "DC: {l:?}");
    // Until DC is removed before the limiter (the repair stage's job), the DC eats the
    // headroom: then the miss must be said, never hidden.
    let lufs = l.integrated_lufs.unwrap();
    assert!(
        (lufs + 14.0).abs() <= 0.5 || warnings.contains("target loudness missed"),
        "DC: {lufs} LUFS, no warning: {warnings}"
    );
}

#[test]
fn sessions_of_another_format_version_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mix.wav");
    for (version, says) in [("0", "format version 0"), ("2", "format version 2")] {
        let path = dir.path().join(format!("v{version}.json"));
        let text = format!(
            r#"{{"format_version": {version}, "sample_rate": 44100, "tracks": [], "master": {{"target_lufs": -14, "ceiling_dbtp": -1}}}}"#
        );
        std::fs::write(&path, text).unwrap();
        let r = run(&["render", s(&path), "-o", s(&out), "-q"]);
        assert_eq!(r.code, Some(2), "{}", r.stderr);
        assert!(r.stderr.contains(says), "{}", r.stderr);
        assert!(r.stderr.contains("not supported"), "{}", r.stderr);
        assert!(
            r.stderr.contains(&format!("v{version}.json")),
            "{}",
            r.stderr
        );
    }
    let path = dir.path().join("none.json");
    std::fs::write(&path, r#"{"sample_rate": 44100}"#).unwrap();
    let r = run(&["render", s(&path), "-o", s(&out), "-q"]);
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("no format_version"), "{}", r.stderr);
    assert!(!out.exists());
}

/// A 1 MiB tmpfs mounted for the test (needs root, as in CI's container); unmounted on drop.
struct TinyDisk(tempfile::TempDir);

impl TinyDisk {
    fn mount() -> Option<TinyDisk> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1M", "tmpfs", s(dir.path())])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|st| st.success());
        ok.then_some(TinyDisk(dir))
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn a_full_disk_is_a_clear_error_and_leaves_nothing() {
    let Some(disk) = TinyDisk::mount() else {
        eprintln!("skipped: cannot mount a tmpfs here (not root); see docs in README");
        return;
    };
    let song = crate::cli::song_dir(8.0);
    // The mix (8 s of 24-bit stereo, 2 MiB) does not fit.
    let mix = disk.0.path().join("mix.wav");
    let r = run(&["mix", s(song.path()), "-o", s(&mix), "-q"]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("mix.wav"), "{}", r.stderr);
    assert!(r.stderr.contains("disk full"), "{}", r.stderr);
    let left: Vec<_> = std::fs::read_dir(disk.0.path()).unwrap().collect();
    assert!(left.is_empty(), "left {left:?}");
    // Decoded audio spilled to a full temporary folder.
    let out = tempfile::tempdir().unwrap();
    let mix = out.path().join("mix.wav");
    let child = Command::new(env!("CARGO_BIN_EXE_mixwright"))
        .args(["mix", s(song.path()), "-o", s(&mix), "-q"])
        .env("TMPDIR", disk.0.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&child.stderr).to_string();
    assert_eq!(child.status.code(), Some(2), "{err}");
    assert!(err.contains("temporary storage"), "{err}");
    assert!(err.contains("disk full"), "{err}");
    assert!(!mix.exists());
}

/// Found by the session fuzz target: serde_json's default float parser was 1 ulp off on
/// long decimals, so a session written and read back changed (and its render could too).
#[test]
fn session_numbers_read_back_exactly() {
    let text = r#"{
  "format_version": 1,
  "sample_rate": 44100,
  "tracks": [
    {
      "name": "kick",
      "source": "kistripck.wav",
      "role": "kick",
      "strip": { "polarity_inverted": false, "trim_db": 0.0, "fader_db": -7.5, "pan": 0.0, "win": -0.4, "width": 1.77777770777777777777775, "mute": true }
    }
  ],
  "master": { "target_lufs": -14.0, "ceiling_dbtp": -1.0 }
}"#;
    let base = Path::new("/fuzz/session.json");
    let s = mixwright::session::Session::parse(text, base).unwrap();
    let exact: f64 = "1.77777770777777777777775".parse().unwrap();
    assert_eq!(s.tracks[0].strip.width.to_bits(), exact.to_bits());
    let written = serde_json::to_string_pretty(&s).unwrap();
    let again = mixwright::session::Session::parse(&written, base).unwrap();
    assert_eq!(again, s);
}
