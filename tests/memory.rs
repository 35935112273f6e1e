//! Bounded memory: a mix streams through on-disk spools, so its peak RSS (as the OS measures
//! it) does not grow with the song's length. Guards the streaming path with a long and a short
//! mix of the same song: a stage that held the audio of the song in memory would add at
//! least one stereo bus (53 MB for the extra 130 s), all stems much more.
//!
//! The analysis's 50 ms band frames are guarded more finely, by counting heap bytes (a
//! counting global allocator, per thread): the spectrum meter's peak does not depend on the
//! length of the track, and the masking model's grows by a few bytes per frame (its per-frame
//! results), not by the 124 bytes per track and frame the frames themselves take.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use mixwright::analysis::masking::{AudibilityCriterion, MaskingModel};
use mixwright::analysis::spectrum::{
    BandFrames, FLOOR_DB, FRAME_HOP_S, SpectrumMeter, THIRD_OCTAVE_BANDS,
};

use crate::fixtures::Rng;
use crate::song;

/// The system allocator, counting the bytes each thread allocates and frees.
struct Counting;

#[global_allocator]
static COUNTING: Counting = Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn note(delta: isize) {
    // `try_with`: allocations during a thread's teardown are simply not counted.
    let _ = LIVE.try_with(|live| {
        let v = live.get() + delta;
        live.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

// SAFETY: every call is forwarded to `System` unchanged; the counters are plain integers.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            note(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            note(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        note(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            note(new_size as isize - layout.size() as isize);
        }
        p
    }
}

/// Runs `f` on this thread and returns its result with the most heap it held at once
/// (bytes allocated on this thread above what was live when it started).
fn peak_heap<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let r = f();
    let peak = PEAK.with(Cell::get);
    (r, (peak - start).max(0) as usize)
}

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

/// Peak heap of the spectrum meter over `secs` of 48 kHz noise, pushed in 8192-frame blocks
/// (generated block by block: the signal itself is never held).
fn spectrum_peak(secs: usize) -> usize {
    let rate = 48_000u32;
    let mut rng = Rng::new(11);
    let mut block = vec![0.0f32; 8192];
    let (frames, peak) = peak_heap(|| {
        let mut m = SpectrumMeter::new(1, rate);
        let mut left = secs * rate as usize;
        while left > 0 {
            let n = left.min(block.len());
            for x in &mut block[..n] {
                *x = (0.2 * (rng.uniform() * 2.0 - 1.0)) as f32;
            }
            m.push(&block[..n]);
            left -= n;
        }
        m.finish().unwrap().frames
    });
    assert_eq!(frames.frames(), secs * 20);
    peak
}

#[test]
fn band_frames_stay_out_of_memory_while_analysing() {
    let (short, long) = (spectrum_peak(20), spectrum_peak(180));
    eprintln!("spectrum meter peak heap: 20 s {short} B, 180 s {long} B");
    // In memory the extra 160 s of frames would be 3 200 × 31 × 4 = 397 kB.
    assert!(
        long <= short + 16_384,
        "the band frames' memory grows with length: 20 s {short} B, 180 s {long} B"
    );
}

/// Peak heap of building a masking model of `tracks` tracks of `frames` frames and
/// evaluating one balance, on a one-thread pool (so that every allocation is on the thread
/// that counts).
fn masking_peak(tracks: usize, frames: usize) -> usize {
    let mut rng = Rng::new(5);
    let all: Vec<BandFrames> = (0..tracks)
        .map(|i| {
            // Each track plays in turns (4 s on, some off) with its own spectrum.
            let db: Vec<f32> = (0..frames * THIRD_OCTAVE_BANDS)
                .map(|k| {
                    let (t, b) = (k / THIRD_OCTAVE_BANDS, k % THIRD_OCTAVE_BANDS);
                    if (t / 80 + i) % 3 == 0 {
                        FLOOR_DB as f32
                    } else {
                        (-30.0 - (b as f64 - 3.0 * i as f64).abs() - 6.0 * rng.uniform()) as f32
                    }
                })
                .collect();
            BandFrames::from_db(FRAME_HOP_S, 0.1, THIRD_OCTAVE_BANDS, &db).unwrap()
        })
        .collect();
    let refs: Vec<&BandFrames> = all.iter().collect();
    let gains = vec![0.0; tracks];
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let (r, peak) = pool.install(|| {
        peak_heap(|| {
            let model = MaskingModel::new(&refs).unwrap();
            model
                .audibility(&gains, 85.0, &AudibilityCriterion::default())
                .unwrap()
        })
    });
    assert!(r.iter().all(|t| t.active_frames > 0));
    peak
}

#[test]
fn masking_streams_the_band_frames() {
    let tracks = 8;
    let (short, long) = (masking_peak(tracks, 1_200), masking_peak(tracks, 12_000));
    let per_track_frame = (long.saturating_sub(short)) as f64 / (tracks * 10_800) as f64;
    eprintln!(
        "masking peak heap: 1 200 frames {short} B, 12 000 frames {long} B: \
         {per_track_frame:.1} B per track and frame"
    );
    // What grows: each track's per-frame result (8 B) and activity (1 B), and per frame the
    // mix level and a track's levels while the model is built (8 B each, shared by the
    // tracks). Frames held in memory would add 124 B per track and frame, their mix 31 × 8 B
    // per frame.
    assert!(
        per_track_frame < 16.0,
        "masking holds the band frames: {per_track_frame:.1} B per track and frame"
    );
}
