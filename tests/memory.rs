//! Bounded memory: a mix streams through on-disk spools, so its peak RSS (as the OS measures
//! it) does not grow with the song's length. Guards the streaming path with a long and a short
//! mix of the same song: a stage that held the audio of the song in memory would add at
//! least one stereo bus (53 MB for the extra 130 s), all stems much more.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::song;

/// Peak resident set size of `mixwright mix <dir>`, in bytes: the kernel's high-water mark
/// of the child's own memory (`VmHWM`), read until it exits. (`wait4`'s `ru_maxrss` would not
/// do: Linux carries the spawning test process's high-water mark across `exec`.) The mark
/// only rises, so the last reading is the peak up to a few milliseconds before the exit.
fn mix_peak_rss(dir: &Path, out: &Path) -> u64 {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mixwright"))
        .args([
            "mix",
            dir.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "-q",
        ])
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        let hwm = std::fs::read_to_string(&status_file).ok().and_then(|t| {
            let line = t.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        });
        peak_kib = peak_kib.max(hwm.unwrap_or(0));
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(status.success(), "mix failed");
    assert!(peak_kib > 0, "no reading of the child's memory");
    peak_kib * 1024
}

#[test]
fn peak_memory_does_not_grow_with_song_length() {
    let out = tempfile::tempdir().unwrap();
    let mut peaks = Vec::new();
    for secs in [20.0, 120.0] {
        let dir = tempfile::tempdir().unwrap();
        song::write(dir.path(), 44_100, &song::make(44_100, secs));
        peaks.push(mix_peak_rss(dir.path(), &out.path().join("mix.wav")));
    }
    let (short, long) = (peaks[0] as f64 / 1e6, peaks[1] as f64 / 1e6);
    eprintln!("peak RSS: 20 s {short:.1} MB, 120 s {long:.1} MB");
    assert!(
        long < short + 24.0,
        "peak RSS grows with length: 20 s {short:.1} MB, 120 s {long:.1} MB"
    );
}
