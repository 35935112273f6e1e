//! Many songs, many threads, interruption: `batch` goes past a bad song and resumes,
//! the bytes do not depend on the thread count, and a killed run leaves nothing half-done.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::cli::mixwright;
use crate::song;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every entry under `dir`, recursively, sorted.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            v.extend(tree(&p));
        }
        v.push(p);
    }
    v.sort();
    v
}

fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    tree(dir)
        .into_iter()
        .filter(|p| p.is_file())
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect()
}

/// A root with songs `a` and `c` (good, different lengths) and `b` (one corrupt stem).
fn library() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    for (name, secs) in [("a", 3.0), ("c", 4.0)] {
        let d = root.path().join(name);
        std::fs::create_dir(&d).unwrap();
        song::write(&d, 44_100, &song::make(44_100, secs));
    }
    let b = root.path().join("b");
    std::fs::create_dir(&b).unwrap();
    song::write(&b, 44_100, &song::make(44_100, 3.0));
    std::fs::write(b.join("broken.wav"), b"RIFF\x10\0\0\0WAVEjunkjunkjunk").unwrap();
    root
}

#[test]
fn batch_goes_past_a_bad_song_then_resumes_and_force_redoes() {
    let root = library();
    let out = tempfile::tempdir().unwrap();
    let args = ["batch", s(root.path()), "-o", s(out.path()), "-q"];
    let o = mixwright(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert!(err.contains("broken.wav"), "names the bad file: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let names = |dir: &Path| -> Vec<String> {
        tree(dir)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(
        names(out.path()),
        ["a.session.json", "a.wav", "c.session.json", "c.wav"],
        "the good songs are delivered, nothing of the bad one, no temporary"
    );
    let done = snapshot(out.path());

    // Resume: the finished songs are skipped (bytes untouched), the bad one is tried again.
    let o = mixwright(&args);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout.contains("a: already done"), "{stdout}");
    assert!(stdout.contains("c: already done"), "{stdout}");
    assert_eq!(snapshot(out.path()), done);

    // A mix whose session (the completion marker) is missing is done again.
    std::fs::remove_file(out.path().join("c.session.json")).unwrap();
    std::fs::remove_file(root.path().join("b/broken.wav")).unwrap();
    let o = mixwright(&args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("a: already done"), "{stdout}");
    assert!(stdout.contains("b: mixed"), "{stdout}");
    assert!(stdout.contains("c: mixed"), "{stdout}");
    assert_eq!(
        std::fs::read(out.path().join("c.wav")).unwrap(),
        done.iter().find(|(p, _)| p.ends_with("c.wav")).unwrap().1,
        "a redone song has the same bytes"
    );

    // --force redoes everything, one song at a time, to the same bytes.
    let before = snapshot(out.path());
    let mut forced = args.to_vec();
    forced.extend(["--force", "--jobs", "1"]);
    let o = mixwright(&forced);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout)
            .matches(": mixed")
            .count(),
        3
    );
    assert_eq!(snapshot(out.path()), before);
}

#[test]
fn batch_without_songs_is_a_clear_error() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("loose.wav"), b"x").unwrap();
    let out = root.path().join("out");
    let o = mixwright(&["batch", s(root.path()), "-o", s(&out), "-q"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("no song folders"), "{err}");
}

/// The same mix, bit for bit, on a rayon pool of 1 and of 4 threads.
#[test]
fn mix_bytes_do_not_depend_on_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    song::write(dir.path(), 44_100, &song::make(44_100, 6.0));
    let out = tempfile::tempdir().unwrap();
    let run = |threads: usize| {
        let mix = out.path().join(format!("mix{threads}.wav"));
        let session = out.path().join(format!("mix{threads}.json"));
        let opts = mixwright::MixOptions {
            target: mixwright::engineer::master::Target::parse("streaming").unwrap(),
            rate: None,
            format: mixwright::io::write::OutputFormat::Wav24,
            session_out: Some(session.clone()),
            stems_out: None,
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            mixwright::mix(&[dir.path().to_path_buf()], &mix, &opts, &mixwright::Quiet)
        })
        .unwrap();
        (
            std::fs::read(mix).unwrap(),
            std::fs::read_to_string(session).unwrap(),
        )
    };
    let (one, s1) = run(1);
    let (four, s4) = run(4);
    assert!(one == four, "mix bytes differ between 1 and 4 threads");
    assert_eq!(s1, s4);
}

/// Starts a long mix, waits until it is `stage` ("analysing": before any output exists;
/// "writing": its temporary mix file is on disk), sends `signal`, and checks the exit status,
/// that nothing is left in the output folder and that the inputs are unchanged.
fn interrupt(song: &Path, signal: &str, expect: i32, writing: bool) {
    let out = tempfile::tempdir().unwrap();
    let before = snapshot(song);
    let mix = out.path().join("mix.wav");
    let session = out.path().join("mix.json");
    let stems = out.path().join("stems");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mixwright"))
        .args([
            "mix",
            s(song),
            "-o",
            s(&mix),
            "-q",
            "--session",
            s(&session),
        ])
        .args(["--stems-out", s(&stems)])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let part_exists = || {
        std::fs::read_dir(out.path())
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".part"))
    };
    if writing {
        while !part_exists() {
            assert!(child.try_wait().unwrap().is_none(), "the mix ended first");
            assert!(
                start.elapsed() < Duration::from_secs(300),
                "no output began"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    } else {
        std::thread::sleep(Duration::from_millis(300));
        assert!(!part_exists(), "still decoding or analysing");
    }
    let kill = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(expect), "{signal}");
    let left: Vec<_> = tree(out.path())
        .into_iter()
        .filter(|p| p.is_file())
        .collect();
    assert!(left.is_empty(), "{signal}: left behind {left:?}");
    assert!(snapshot(song) == before, "inputs changed");
}

#[test]
fn an_interrupted_mix_leaves_no_file_and_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    song::write(dir.path(), 44_100, &song::make(44_100, 90.0));
    interrupt(dir.path(), "-INT", 130, true);
    interrupt(dir.path(), "-TERM", 143, true);
    interrupt(dir.path(), "-TERM", 143, false);
}
