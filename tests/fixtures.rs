//! Test stem files made on demand: WAV writers for every sample format and header flavour the
//! decoder must accept, lossy and lossless encodes through the system `ffmpeg`, and damaged files
//! (truncated, garbage). Shared by the integration tests (`mod fixtures;` in `tests/main.rs`) and by
//! the unit tests in `src/io/decode.rs` (through `#[path]`), so there is one copy of the writers.
//!
//! The WAV writers are hand-written rather than hound because the decoder must be tested against
//! headers hound cannot produce (64-bit float, an explicit WAVE_FORMAT_EXTENSIBLE, a BWF `bext`
//! chunk), and because the bytes must be exactly what the test says they are.

// Each user of this module needs only some of the helpers.
#![allow(dead_code)]

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::process::Command;

/// How samples are stored in a WAV file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleFormat {
    /// Signed 16-bit integer.
    Int16,
    /// Signed 24-bit integer, packed in 3 bytes.
    Int24,
    /// Signed 32-bit integer.
    Int32,
    /// IEEE 754 single precision.
    Float32,
    /// IEEE 754 double precision.
    Float64,
}

impl SampleFormat {
    /// Every format, for test matrices.
    pub const ALL: [SampleFormat; 5] = [
        SampleFormat::Int16,
        SampleFormat::Int24,
        SampleFormat::Int32,
        SampleFormat::Float32,
        SampleFormat::Float64,
    ];

    /// Bits per stored sample.
    pub fn bits(self) -> u16 {
        match self {
            SampleFormat::Int16 => 16,
            SampleFormat::Int24 => 24,
            SampleFormat::Int32 => 32,
            SampleFormat::Float32 => 32,
            SampleFormat::Float64 => 64,
        }
    }

    /// True for the IEEE float formats.
    pub fn is_float(self) -> bool {
        matches!(self, SampleFormat::Float32 | SampleFormat::Float64)
    }

    /// The value a decoder that maps full scale to ±1.0 must return for `x` stored in this format:
    /// integers are rounded to the nearest step of 2^-(bits-1) and clamped to the representable
    /// range; floats are stored as given (f32 values are exact in f64).
    pub fn stored_value(self, x: f32) -> f64 {
        match self {
            SampleFormat::Float32 | SampleFormat::Float64 => f64::from(x),
            _ => {
                let scale = f64::from(1u32 << (self.bits() - 1));
                (f64::from(x) * scale).round().clamp(-scale, scale - 1.0) / scale
            }
        }
    }

    /// One quantisation step (1 LSB) relative to full scale; 0 for floats.
    pub fn lsb(self) -> f64 {
        if self.is_float() {
            0.0
        } else {
            1.0 / f64::from(1u32 << (self.bits() - 1))
        }
    }
}

/// Which header layout a WAV file gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WavHeader {
    /// A 16-byte `fmt ` chunk with WAVE_FORMAT_PCM (1) or WAVE_FORMAT_IEEE_FLOAT (3).
    Plain,
    /// A 40-byte `fmt ` chunk with WAVE_FORMAT_EXTENSIBLE (0xFFFE), a channel mask and the
    /// PCM or IEEE-float sub-format GUID, as written by most DAWs for 24-bit and float files.
    Extensible,
    /// Broadcast WAV: a `bext` chunk (EBU Tech 3285, version 1) before a plain `fmt ` chunk, as
    /// written by field recorders and Pro Tools.
    Bwf,
}

/// Write `samples` (interleaved, `channels` per frame, full scale ±1.0) as a plain WAV file.
pub fn write_wav(
    path: &Path,
    rate: u32,
    channels: u16,
    format: SampleFormat,
    samples: &[f32],
) -> io::Result<()> {
    write_wav_with(path, rate, channels, format, WavHeader::Plain, samples)
}

/// Write `samples` as a WAV file with the chosen header layout. `channels` is written as given
/// (0 or 6 included) so that headers the decoder must reject can be made too; a trailing partial
/// frame in `samples` is written as is.
pub fn write_wav_with(
    path: &Path,
    rate: u32,
    channels: u16,
    format: SampleFormat,
    header: WavHeader,
    samples: &[f32],
) -> io::Result<()> {
    let bytes_per_sample = u32::from(format.bits() / 8);
    let data_len = samples.len() as u32 * bytes_per_sample;
    let block_align = u32::from(channels) * bytes_per_sample;

    let fmt_len: u32 = if header == WavHeader::Extensible {
        40
    } else {
        16
    };
    let bext_len: u32 = 602;
    let mut riff_len = 4 + (8 + fmt_len) + (8 + data_len + (data_len & 1));
    if header == WavHeader::Bwf {
        riff_len += 8 + bext_len;
    }

    let mut w = BufWriter::new(File::create(path)?);
    w.write_all(b"RIFF")?;
    w.write_all(&riff_len.to_le_bytes())?;
    w.write_all(b"WAVE")?;

    if header == WavHeader::Bwf {
        w.write_all(b"bext")?;
        w.write_all(&bext_len.to_le_bytes())?;
        let mut bext = vec![0u8; bext_len as usize];
        put_ascii(&mut bext[0..256], "mixwright test stem");
        put_ascii(&mut bext[256..288], "mixwright fixtures");
        put_ascii(&mut bext[288..320], "FIXTURE0001");
        put_ascii(&mut bext[320..330], "2024-01-01");
        put_ascii(&mut bext[330..338], "12:00:00");
        // TimeReference: samples since midnight, as a recorder stamps it.
        bext[338..346].copy_from_slice(&(u64::from(rate) * 43_200).to_le_bytes());
        bext[346..348].copy_from_slice(&1u16.to_le_bytes());
        w.write_all(&bext)?;
    }

    let format_tag: u16 = match (header, format.is_float()) {
        (WavHeader::Extensible, _) => 0xFFFE,
        (_, true) => 3,
        (_, false) => 1,
    };
    w.write_all(b"fmt ")?;
    w.write_all(&fmt_len.to_le_bytes())?;
    w.write_all(&format_tag.to_le_bytes())?;
    w.write_all(&channels.to_le_bytes())?;
    w.write_all(&rate.to_le_bytes())?;
    w.write_all(&(rate * block_align).to_le_bytes())?;
    w.write_all(&(block_align as u16).to_le_bytes())?;
    w.write_all(&format.bits().to_le_bytes())?;
    if header == WavHeader::Extensible {
        w.write_all(&22u16.to_le_bytes())?;
        w.write_all(&format.bits().to_le_bytes())?; // valid bits per sample
        let mask: u32 = match channels {
            1 => 0x4, // front centre
            2 => 0x3, // front left | front right
            n => (1u32 << n.min(18)) - 1,
        };
        w.write_all(&mask.to_le_bytes())?;
        // KSDATAFORMAT_SUBTYPE_PCM / _IEEE_FLOAT: {0000000X-0000-0010-8000-00AA00389B71}.
        let kind: u8 = if format.is_float() { 3 } else { 1 };
        w.write_all(&[
            kind, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38,
            0x9B, 0x71,
        ])?;
    }

    w.write_all(b"data")?;
    w.write_all(&data_len.to_le_bytes())?;
    for &x in samples {
        match format {
            SampleFormat::Int16 => {
                let q = (format.stored_value(x) * 32_768.0) as i16;
                w.write_all(&q.to_le_bytes())?;
            }
            SampleFormat::Int24 => {
                let q = (format.stored_value(x) * 8_388_608.0) as i32;
                w.write_all(&q.to_le_bytes()[0..3])?;
            }
            SampleFormat::Int32 => {
                let q = (format.stored_value(x) * 2_147_483_648.0) as i32;
                w.write_all(&q.to_le_bytes())?;
            }
            SampleFormat::Float32 => w.write_all(&x.to_le_bytes())?,
            SampleFormat::Float64 => w.write_all(&f64::from(x).to_le_bytes())?,
        }
    }
    if data_len & 1 == 1 {
        w.write_all(&[0])?;
    }
    w.flush()
}

fn put_ascii(field: &mut [u8], text: &str) {
    let n = text.len().min(field.len());
    field[..n].copy_from_slice(&text.as_bytes()[..n]);
}

/// Encode `src_wav` to `dst` with the system `ffmpeg`; the codec follows `dst`'s extension:
/// `aif`/`aiff` → 24-bit big-endian PCM AIFF, `flac` → FLAC (ffmpeg keeps the source bit depth),
/// `mp3` → LAME CBR 192 kb/s (with a Xing/LAME tag, so decoders can trim the encoder delay),
/// `ogg` → libvorbis quality 6. Output is bit-exact mode with no metadata, so it is reproducible.
pub fn encode_with_ffmpeg(src_wav: &Path, dst: &Path) -> io::Result<()> {
    let ext = dst
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let codec_args: &[&str] = match ext.as_str() {
        "aif" | "aiff" => &["-f", "aiff", "-c:a", "pcm_s24be"],
        "flac" => &["-f", "flac", "-c:a", "flac"],
        "mp3" => &["-f", "mp3", "-c:a", "libmp3lame", "-b:a", "192k"],
        "ogg" => &["-f", "ogg", "-c:a", "libvorbis", "-q:a", "6"],
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("encode_with_ffmpeg: no codec for extension {ext:?}"),
            ));
        }
    };
    let output = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(src_wav)
        .args([
            "-map_metadata",
            "-1",
            "-fflags",
            "+bitexact",
            "-flags:a",
            "+bitexact",
        ])
        .args(codec_args)
        .arg(dst)
        .output()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot run ffmpeg ({e}); install it (apt-get install -y ffmpeg)"),
            )
        })?;
    if !output.status.success() {
        return Err(io::Error::other(format!(
            "ffmpeg failed encoding {} to {}: {}",
            src_wav.display(),
            dst.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(())
}

/// Cut `path` down to its first `len` bytes, leaving its header's declared sizes as they were.
pub fn truncate_file(path: &Path, len: u64) -> io::Result<()> {
    OpenOptions::new().write(true).open(path)?.set_len(len)
}

/// Write `len` seeded pseudo-random bytes to `path`.
pub fn write_garbage(path: &Path, len: usize, seed: u64) -> io::Result<()> {
    let mut rng = Rng::new(seed);
    let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
    fs::write(path, bytes)
}

/// A deterministic test signal: per channel a few sines of different frequencies and phases
/// plus a little noise, peaking below 0.9. Interleaved, `frames * channels` samples.
pub fn test_signal(rate: u32, channels: usize, frames: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let tones: Vec<[(f64, f64, f64); 3]> = (0..channels)
        .map(|_| {
            std::array::from_fn(|_| {
                let freq = 60.0 + rng.uniform() * (f64::from(rate) * 0.2).min(4_000.0);
                let amp = 0.1 + 0.15 * rng.uniform();
                let phase = rng.uniform() * std::f64::consts::TAU;
                (freq, amp, phase)
            })
        })
        .collect();
    let mut out = Vec::with_capacity(frames * channels);
    for n in 0..frames {
        let t = n as f64 / f64::from(rate);
        for ch_tones in &tones {
            let tonal: f64 = ch_tones
                .iter()
                .map(|&(f, a, p)| a * (std::f64::consts::TAU * f * t + p).sin())
                .sum();
            out.push((tonal + 0.05 * (rng.uniform() * 2.0 - 1.0)) as f32);
        }
    }
    out
}

/// A small xorshift64* generator: deterministic test input without a rand dependency.
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value, 0 included).
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform integer in [lo, hi] (inclusive).
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }
}
