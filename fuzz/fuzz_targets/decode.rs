//! Arbitrary bytes as a stem: probe, decode, resample to the session rate, analyse — the
//! path every input file takes in `mix`. Any error is fine; a panic, a hang or a non-finite
//! measurement is a finding.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// The extension hints the prober; the first byte picks one, so every reader is reached.
const EXTENSIONS: [&str; 6] = ["wav", "flac", "aiff", "mp3", "ogg", "bin"];

/// One scratch file per process on a RAM disk when there is one (the decoder reads paths).
fn scratch(ext: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let shm = PathBuf::from("/dev/shm");
        let base = if shm.is_dir() { shm } else { std::env::temp_dir() };
        let d = base.join(format!("mixwright-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("scratch folder");
        d
    });
    dir.join(format!("stem.{ext}"))
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let path = scratch(EXTENSIONS[pick as usize % EXTENSIONS.len()]);
    std::fs::write(&path, bytes).expect("scratch file");
    // The other bits of the first byte: keep the file's rate, or resample it.
    let session_rate = match pick / 8 % 3 {
        0 => None,
        1 => Some(44_100),
        _ => Some(48_000),
    };
    let Ok(info) = mixwright::io::probe(std::slice::from_ref(&path)) else {
        return;
    };
    let rate = session_rate.unwrap_or(info[0].sample_rate);
    let Ok(stem) = mixwright::io::import_stem(&path, rate) else {
        return;
    };
    let a = mixwright::analysis::analyze_track(&stem.spool, rate).expect("spool readable");
    let l = &a.loudness;
    for v in [l.integrated_lufs, l.lra_lu, l.true_peak_dbtp, l.sample_peak_dbfs, l.active_lufs]
        .into_iter()
        .flatten()
    {
        assert!(v.is_finite(), "non-finite measurement {v}: {l:?}");
    }
});
