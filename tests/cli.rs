//! The command-line contract, end to end: targets, formats, re-rendering, alignment and
//! every kind of bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mixwright::analysis::loudness::LoudnessMeter;

use crate::song;

pub fn mixwright(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mixwright"))
        .args(args)
        .output()
        .expect("mixwright runs")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A folder with the generated test song.
pub fn song_dir(secs: f64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    song::write(dir.path(), 44_100, &song::make(44_100, secs));
    dir
}

/// Decodes an output file with our own reader at its own rate.
pub fn read(path: &Path) -> (u32, usize, Vec<f32>) {
    let mut r = mixwright::io::decode::StemReader::open(path).unwrap();
    let (rate, ch) = (r.info().sample_rate, r.info().channels);
    let mut all = Vec::new();
    let mut block = Vec::new();
    while r.next_block(&mut block).unwrap() {
        all.extend_from_slice(&block);
    }
    (rate, ch, all)
}

fn measure(path: &Path) -> mixwright::analysis::loudness::Loudness {
    let (rate, ch, samples) = read(path);
    let mut m = LoudnessMeter::new(ch, rate, true);
    m.push(&samples);
    m.finish().unwrap()
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_target_lands_on_its_loudness_under_its_ceiling() {
    let dir = song_dir(12.0);
    let out = tempfile::tempdir().unwrap();
    for (target, lufs, ceiling) in [
        ("streaming", -14.0, -1.0),
        ("apple", -16.0, -1.0),
        ("ebu", -23.0, -1.0),
        ("club", -9.0, -0.3),
        ("-18", -18.0, -1.0),
    ] {
        let mix = out.path().join(format!("{target}.wav"));
        assert_ok(&mixwright(&[
            "mix",
            s(dir.path()),
            "-o",
            s(&mix),
            "--target",
            target,
            "-q",
        ]));
        let l = measure(&mix);
        let got = l.integrated_lufs.unwrap();
        assert!((got - lufs).abs() <= 0.1, "{target}: {got} LUFS");
        let tp = l.true_peak_dbtp.unwrap();
        assert!(
            tp <= ceiling,
            "{target}: true peak {tp} dBTP over {ceiling}"
        );
    }
}

#[test]
fn render_reproduces_the_mix_byte_for_byte() {
    let dir = song_dir(6.0);
    let out = tempfile::tempdir().unwrap();
    for ext in ["wav", "flac"] {
        let mix = out.path().join(format!("mix.{ext}"));
        let session = out.path().join(format!("session-{ext}.json"));
        assert_ok(&mixwright(&[
            "mix",
            s(dir.path()),
            "-o",
            s(&mix),
            "--session",
            s(&session),
            "-q",
        ]));
        // The song has a lead: its rider and the accompaniment's duck EQ are in the
        // session, so this checks they re-render exactly too.
        let text = std::fs::read_to_string(&session).unwrap();
        assert!(text.contains("\"automation\""), "no rider in {text}");
        assert!(text.contains("\"dynamic_eq\""), "no duck EQ in {text}");
        let again = out.path().join(format!("again.{ext}"));
        assert_ok(&mixwright(&["render", s(&session), "-o", s(&again), "-q"]));
        let a = std::fs::read(&mix).unwrap();
        let b = std::fs::read(&again).unwrap();
        assert!(a == b, "{ext}: render differs from mix");
    }
}

#[test]
fn json_summary_names_every_track_and_the_measured_figures() {
    let dir = song_dir(6.0);
    let out = tempfile::tempdir().unwrap();
    let mix = out.path().join("mix.wav");
    let o = mixwright(&["mix", s(dir.path()), "-o", s(&mix), "--json"]);
    assert_ok(&o);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let tracks = v["tracks"].as_array().unwrap();
    assert_eq!(tracks.len(), 6);
    let roles: Vec<&str> = tracks.iter().map(|t| t["role"].as_str().unwrap()).collect();
    assert_eq!(
        roles,
        ["bass", "guitar", "kick", "lead_vocal", "pad", "snare"]
    );
    let lufs = v["master"]["integrated_lufs"].as_f64().unwrap();
    assert!((lufs + 14.0).abs() <= 0.1);
    for t in tracks {
        if ["kick", "snare", "bass", "lead_vocal"].contains(&t["role"].as_str().unwrap()) {
            assert_eq!(t["pan"].as_f64().unwrap(), 0.0);
        }
    }
}

/// A click at exactly 1.000 s in one stem is at 1.000 s in the mix and in its stems-out file.
#[test]
fn mix_and_stems_out_are_sample_aligned_with_the_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let rate = 48_000u32;
    let n = rate as usize * 3;
    let mut click = vec![0.0f32; n];
    click[rate as usize] = 0.9;
    let mut bed = vec![0.0f32; n];
    let mut rng = song::Rng::new(3);
    for (i, x) in bed.iter_mut().enumerate() {
        *x = (0.01 * rng.next()) as f32 * if i > rate as usize / 2 { 1.0 } else { 0.0 };
    }
    let stems = [
        song::Stem {
            name: "snare",
            channels: 1,
            samples: click,
        },
        song::Stem {
            name: "pad",
            channels: 1,
            samples: bed,
        },
    ];
    song::write(dir.path(), rate, &stems);
    let out = tempfile::tempdir().unwrap();
    let mix = out.path().join("mix.wav");
    let stems_out = out.path().join("stems");
    assert_ok(&mixwright(&[
        "mix",
        s(dir.path()),
        "-o",
        s(&mix),
        "--stems-out",
        s(&stems_out),
        "-q",
        "--format",
        "wav32f",
    ]));
    let peak_at = |path: &Path| {
        let (_, ch, x) = read(path);
        (0..x.len() / ch)
            .max_by(|&a, &b| x[a * ch].abs().total_cmp(&x[b * ch].abs()))
            .unwrap()
    };
    assert_eq!(peak_at(&stems_out.join("snare.wav")), rate as usize);
    assert_eq!(peak_at(&mix), rate as usize);
    let (_, _, m) = read(&mix);
    assert_eq!(m.len(), 2 * n, "mix as long as the stems");
    assert!(stems_out.join("pad.wav").exists());
}

fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// Runs a mix that must fail with exit status 2 and a message naming `names`; checks the
/// inputs are untouched and no output (not even a temporary) is left.
fn bad(inputs: &[&Path], names: &str) -> String {
    let out = tempfile::tempdir().unwrap();
    let mix = out.path().join("mix.wav");
    let before: Vec<(PathBuf, Vec<u8>)> = inputs
        .iter()
        .filter(|p| p.is_file())
        .map(|p| (p.to_path_buf(), std::fs::read(p).unwrap()))
        .collect();
    let mut args = vec!["mix"];
    args.extend(inputs.iter().map(|p| s(p)));
    args.extend(["-o", s(&mix), "-q"]);
    let o = mixwright(&args);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert!(err.contains(names), "message should name {names:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        listing(out.path()).is_empty(),
        "left behind: {:?}",
        listing(out.path())
    );
    for (p, bytes) in before {
        assert_eq!(
            std::fs::read(&p).unwrap(),
            bytes,
            "input {} changed",
            p.display()
        );
    }
    err
}

#[test]
fn bad_inputs_exit_2_naming_the_file_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Missing path, empty folder, folder without audio.
    bad(&[&d.join("missing")], "missing");
    let empty = d.join("empty");
    std::fs::create_dir(&empty).unwrap();
    bad(&[&empty], "empty");
    let texts = d.join("texts");
    std::fs::create_dir(&texts).unwrap();
    std::fs::write(texts.join("notes.txt"), "lyrics").unwrap();
    let e = bad(&[&texts], "texts");
    assert!(e.contains("no audio"), "{e}");
    // A corrupt file (garbage with a .wav name) and a zero-length one.
    let garbage = d.join("garbage.wav");
    std::fs::write(
        &garbage,
        [0x52u8, 0x49, 0x46, 0x46, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    )
    .unwrap();
    bad(&[&garbage], "garbage.wav");
    let zero = d.join("zero.wav");
    std::fs::write(&zero, []).unwrap();
    bad(&[&zero], "zero.wav");
    // A truncated file: a valid WAV cut in the middle of its data.
    let song = song_dir(2.0);
    let whole = std::fs::read(song.path().join("kick.wav")).unwrap();
    let cut = d.join("cut.wav");
    std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    bad(&[&cut], "cut.wav");
    // NaN in a float file.
    let nan = d.join("nan.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 44_100,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(&nan, spec).unwrap();
    for i in 0..44_100 {
        w.write_sample(if i == 1000 { f32::NAN } else { 0.1 })
            .unwrap();
    }
    w.finalize().unwrap();
    bad(&[&nan], "nan.wav");
    // Six channels.
    let six = d.join("six.wav");
    let spec = hound::WavSpec {
        channels: 6,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&six, spec).unwrap();
    for _ in 0..6 * 4410 {
        w.write_sample(100i16).unwrap();
    }
    w.finalize().unwrap();
    let e = bad(&[&six], "six.wav");
    assert!(e.contains('6'), "{e}");
}

#[test]
fn output_over_an_input_or_in_an_unwritable_folder_is_refused() {
    let dir = song_dir(2.0);
    let kick = dir.path().join("kick.wav");
    let before = std::fs::read(&kick).unwrap();
    let o = mixwright(&["mix", s(dir.path()), "-o", s(&kick), "-q"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("kick.wav"));
    assert_eq!(std::fs::read(&kick).unwrap(), before);
    // The same file spelled differently.
    let odd = dir.path().join(".").join("kick.wav");
    let o = mixwright(&["mix", s(dir.path()), "-o", s(&odd), "-q"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(std::fs::read(&kick).unwrap(), before);
    let o = mixwright(&[
        "mix",
        s(dir.path()),
        "-o",
        "/nonexistent-folder/mix.wav",
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nonexistent-folder"));
}

#[test]
fn a_silent_stem_is_a_warning_not_an_error() {
    let dir = song_dir(4.0);
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(dir.path().join("silent guitar.wav"), spec).unwrap();
    for _ in 0..44_100 * 4 {
        w.write_sample(0i16).unwrap();
    }
    w.finalize().unwrap();
    let out = tempfile::tempdir().unwrap();
    let mix = out.path().join("mix.wav");
    let o = mixwright(&["mix", s(dir.path()), "-o", s(&mix), "-q"]);
    assert_ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("silent guitar") && err.contains("silent"),
        "{err}"
    );
}

#[test]
fn analyze_reports_loudness_and_format() {
    let dir = song_dir(5.0);
    let o = mixwright(&[
        "analyze",
        s(&dir.path().join("pad.wav")),
        s(&dir.path().join("kick.wav")),
        "--json",
    ]);
    assert_ok(&o);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["channels"], 2);
    assert_eq!(v[1]["sample_rate"], 44_100);
    assert!((v[0]["duration_s"].as_f64().unwrap() - 5.0).abs() < 1e-3);
    assert!(v[0]["integrated_lufs"].as_f64().unwrap() < -10.0);
}
