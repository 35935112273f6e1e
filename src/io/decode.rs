//! Streaming decode of one stem file into interleaved `f32` blocks (symphonia 0.6).
//!
//! Accepted: WAV (plain, WAVE_FORMAT_EXTENSIBLE, BWF with a `bext` chunk) holding 16/24/32-bit
//! integer or 32/64-bit float PCM, FLAC, AIFF, MP3 and Ogg Vorbis; 8 to 192 kHz; mono or stereo.
//! Integers map full scale to ±1.0 (a 24-bit sample `s` decodes to `s / 2^23`); floats pass through.
//!
//! Only one packet (at most a few thousand frames) is decoded at a time, so a stem of any length
//! is read in bounded memory. Every problem is an error naming the file, never a panic and never
//! a silently shorter or silently patched stream: a WAV whose header promises more audio than the
//! file holds is [`DecodeError::Truncated`], a NaN in a float file is [`DecodeError::NonFinite`].
//!
//! Encoder delay and padding are removed where the file records them (symphonia's gapless mode:
//! the LAME tag of an MP3, the granule positions of Ogg Vorbis), so decoded audio starts where the
//! original did.

use std::fs::File;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use symphonia::core::codecs::audio::well_known::{
    CODEC_ID_MP1, CODEC_ID_MP2, CODEC_ID_MP3, CODEC_ID_PCM_F32BE, CODEC_ID_PCM_F32LE,
    CODEC_ID_PCM_F64BE, CODEC_ID_PCM_F64LE,
};
use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

/// Lowest sample rate accepted, in Hz.
pub const MIN_SAMPLE_RATE: u32 = 8_000;
/// Highest sample rate accepted, in Hz.
pub const MAX_SAMPLE_RATE: u32 = 192_000;

/// What a stem file holds, read from its header before any audio is decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StemInfo {
    /// The file.
    pub path: PathBuf,
    /// Sample rate in Hz, within [`MIN_SAMPLE_RATE`]..=[`MAX_SAMPLE_RATE`].
    pub sample_rate: u32,
    /// 1 (mono) or 2 (stereo).
    pub channels: usize,
    /// Frames the file declares it holds (after encoder delay and padding are removed); `None`
    /// when the container does not say, or only allows an estimate (an MP3 without a Xing/LAME
    /// tag). When `Some`, decoding delivers exactly this many frames or fails: with
    /// [`DecodeError::Truncated`] if fewer arrive, [`DecodeError::Corrupt`] if more do.
    pub frames: Option<u64>,
    /// Short codec name as symphonia reports it: `pcm_s24le`, `pcm_f64le`, `pcm_s16be` (AIFF),
    /// `flac`, `mp3`, `vorbis`, ...
    pub codec: String,
    /// Bits per stored sample for PCM and FLAC (16, 24, 32, 64); `None` for lossy codecs.
    pub bits_per_sample: Option<u32>,
}

/// Why a stem could not be decoded. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The file does not exist.
    #[error("{}: no such file", path.display())]
    NotFound {
        /// The file.
        path: PathBuf,
    },
    /// The file exists but could not be read (permissions, a folder, an I/O failure).
    #[error("{}: cannot read: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// Not a container or codec this decoder handles (or not audio at all).
    #[error("{}: unsupported format: {found}", path.display())]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
        /// What was found instead.
        found: String,
    },
    /// The stem is neither mono nor stereo.
    #[error("{}: expected 1 or 2 channels, got {got}", path.display())]
    UnsupportedChannels {
        /// The file.
        path: PathBuf,
        /// Channels the file declares (0 when its header says 0).
        got: usize,
    },
    /// The sample rate is outside 8 to 192 kHz.
    #[error(
        "{}: expected a sample rate from {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz, got {got} Hz",
        path.display()
    )]
    UnsupportedSampleRate {
        /// The file.
        path: PathBuf,
        /// The declared rate in Hz.
        got: u32,
    },
    /// The data is malformed.
    #[error("{}: corrupt data at frame {at}: {detail}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Frames successfully decoded before the fault (0 for a bad header).
        at: u64,
        /// What the decoder said.
        detail: String,
    },
    /// The file ends before the audio its header declares.
    #[error(
        "{}: truncated: the header declares {declared} frames but only {got} could be read",
        path.display()
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Frames declared by the header.
        declared: u64,
        /// Frames decoded before the data ran out.
        got: u64,
    },
    /// A float file holds NaN or infinity (or a 64-bit value too large for `f32`).
    #[error("{}: non-finite sample (NaN or infinity) at frame {frame}, channel {channel}", path.display())]
    NonFinite {
        /// The file.
        path: PathBuf,
        /// Frame index from the start of the stem.
        frame: u64,
        /// Channel index (0 = left or mono).
        channel: usize,
    },
    /// The file holds no audio.
    #[error("{}: holds no audio (zero frames)", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

impl DecodeError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            DecodeError::NotFound { path }
            | DecodeError::Unreadable { path, .. }
            | DecodeError::UnsupportedFormat { path, .. }
            | DecodeError::UnsupportedChannels { path, .. }
            | DecodeError::UnsupportedSampleRate { path, .. }
            | DecodeError::Corrupt { path, .. }
            | DecodeError::Truncated { path, .. }
            | DecodeError::NonFinite { path, .. }
            | DecodeError::Empty { path } => path,
        }
    }
}

/// A stem being decoded: open it, read [`StemReader::info`], then call
/// [`StemReader::next_block`] until it returns `Ok(false)`.
pub struct StemReader {
    info: StemInfo,
    format: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    /// Frames handed out so far.
    frames_read: u64,
    /// Set at the end of the stream or after an error; later calls return `Ok(false)`.
    done: bool,
}

impl std::fmt::Debug for StemReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StemReader")
            .field("info", &self.info)
            .field("frames_read", &self.frames_read)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl StemReader {
    /// Open `path` and read its header. Fails if the file is missing, unreadable, not a supported
    /// format, not mono or stereo, outside 8 to 192 kHz, or declares zero frames.
    pub fn open(path: &Path) -> Result<StemReader, DecodeError> {
        let file = File::open(path).map_err(|e| io_error(path, e))?;
        // Opening a folder succeeds on Unix; say so now rather than as an odd read error later.
        match file.metadata() {
            Ok(m) if m.is_dir() => {
                return Err(DecodeError::Unreadable {
                    path: path.to_path_buf(),
                    source: io::Error::new(io::ErrorKind::IsADirectory, "is a folder"),
                });
            }
            Ok(_) => {}
            Err(e) => return Err(io_error(path, e)),
        }

        let mss = MediaSourceStream::new(Box::new(file), Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(ext);
        }
        let probed = guarded(|| {
            symphonia::default::get_probe().probe(
                &hint,
                mss,
                FormatOptions::default(),
                MetadataOptions::default(),
            )
        });
        let format = match probed {
            Ok(format) => format,
            // symphonia rejects a channel count of 0 (or > 26) while parsing the header and does
            // not say which count it saw; read it from the header to give the number.
            Err(SymError::DecodeError(msg)) if msg.contains("channel count") => {
                return Err(DecodeError::UnsupportedChannels {
                    path: path.to_path_buf(),
                    got: peek_header(path).and_then(|h| h.channels).unwrap_or(0),
                });
            }
            Err(e) => return Err(header_error(path, e)),
        };

        let container = format.format_info().short_name;
        let unsupported = |found: String| DecodeError::UnsupportedFormat {
            path: path.to_path_buf(),
            found,
        };
        let track = format
            .default_track(TrackType::Audio)
            .ok_or_else(|| unsupported(format!("{container} file with no audio track")))?;
        let params = track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .ok_or_else(|| unsupported(format!("{container} file with no audio track")))?
            .clone();
        let track_id = track.id;
        let is_mpeg = [CODEC_ID_MP1, CODEC_ID_MP2, CODEC_ID_MP3].contains(&params.codec);
        // An MP3 without a LAME tag has its length estimated from the bitrate; only the tag's
        // frame count is exact enough to hold the stream to.
        let frames = if is_mpeg && track.delay.is_none() {
            None
        } else {
            track.num_frames
        };

        let sample_rate = params
            .sample_rate
            .ok_or_else(|| unsupported(format!("{container} file with no sample rate")))?;
        if !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&sample_rate) {
            return Err(DecodeError::UnsupportedSampleRate {
                path: path.to_path_buf(),
                got: sample_rate,
            });
        }
        let channels = params.channels.as_ref().map_or(0, |c| c.count());
        if !(1..=2).contains(&channels) {
            return Err(DecodeError::UnsupportedChannels {
                path: path.to_path_buf(),
                got: channels,
            });
        }

        let decoder = guarded(|| {
            symphonia::default::get_codecs()
                .make_audio_decoder(&params, &AudioDecoderOptions::default().gapless(true))
        })
        .map_err(|e| match e {
            SymError::Unsupported(what) => unsupported(format!(
                "codec {} in a {container} file ({what})",
                params.codec
            )),
            other => header_error(path, other),
        })?;

        let bits_per_sample = params.bits_per_sample.or(match params.codec {
            CODEC_ID_PCM_F32LE | CODEC_ID_PCM_F32BE => Some(32),
            CODEC_ID_PCM_F64LE | CODEC_ID_PCM_F64BE => Some(64),
            _ => None,
        });
        if frames == Some(0) {
            return Err(DecodeError::Empty {
                path: path.to_path_buf(),
            });
        }

        let info = StemInfo {
            path: path.to_path_buf(),
            sample_rate,
            channels,
            frames,
            codec: decoder.codec_info().short_name.to_string(),
            bits_per_sample,
        };
        Ok(StemReader {
            info,
            format,
            decoder,
            track_id,
            frames_read: 0,
            done: false,
        })
    }

    /// What the file holds.
    pub fn info(&self) -> &StemInfo {
        &self.info
    }

    /// Clears `out` and fills it with the next block of interleaved f32 frames (one decoded packet,
    /// at most a few thousand frames); Ok(false) at end of stream.
    ///
    /// At the end it checks the stream against its header: fewer frames than declared is
    /// [`DecodeError::Truncated`], none at all is [`DecodeError::Empty`]. After any error, or after
    /// the end, further calls return `Ok(false)` with `out` empty.
    pub fn next_block(&mut self, out: &mut Vec<f32>) -> Result<bool, DecodeError> {
        out.clear();
        if self.done {
            return Ok(false);
        }
        let result = self.decode_next(out);
        if !matches!(result, Ok(true)) {
            self.done = true;
            out.clear();
        }
        result
    }

    fn decode_next(&mut self, out: &mut Vec<f32>) -> Result<bool, DecodeError> {
        loop {
            let packet = match guarded(|| self.format.next_packet()) {
                Ok(Some(packet)) => packet,
                Ok(None) => return self.finish(),
                Err(SymError::IoError(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    // The container promised more bytes than the file has (a cut-off WAV data
                    // chunk, a half-written FLAC frame).
                    return Err(self.ran_out());
                }
                Err(e) => return Err(self.stream_error(e)),
            };
            if packet.track_id != self.track_id {
                continue;
            }

            let (rate, channels) = {
                let decoded = match guarded(|| self.decoder.decode(&packet).map(|_| ())) {
                    Ok(()) => self.decoder.last_decoded(),
                    Err(SymError::IoError(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                        return Err(self.ran_out());
                    }
                    Err(e) => return Err(self.stream_error(e)),
                };
                if decoded.frames() == 0 {
                    // A packet made only of encoder delay, or a codec's priming packet.
                    continue;
                }
                decoded.copy_to_vec_interleaved::<f32>(out);
                (decoded.spec().rate(), decoded.spec().channels().count())
            };
            if rate != self.info.sample_rate || channels != self.info.channels {
                return Err(self.corrupt(format!(
                    "the stream changes from {} Hz, {} channels to {rate} Hz, {channels} channels",
                    self.info.sample_rate, self.info.channels
                )));
            }
            if let Some(i) = out.iter().position(|x| !x.is_finite()) {
                return Err(DecodeError::NonFinite {
                    path: self.info.path.clone(),
                    frame: self.frames_read + (i / channels) as u64,
                    channel: i % channels,
                });
            }
            let frames = (out.len() / channels) as u64;
            if let Some(declared) = self.info.frames.filter(|&n| self.frames_read + frames > n) {
                // Keep the promise made by `StemInfo::frames`: callers may size buffers by it.
                return Err(self.corrupt(format!(
                    "the stream holds more audio than the {declared} frames its header declares"
                )));
            }
            self.frames_read += frames;
            return Ok(true);
        }
    }

    /// End of stream: hold it to the header.
    fn finish(&mut self) -> Result<bool, DecodeError> {
        match self.info.frames {
            Some(declared) if self.frames_read < declared => Err(self.ran_out()),
            _ if self.frames_read == 0 => Err(DecodeError::Empty {
                path: self.info.path.clone(),
            }),
            _ => Ok(false),
        }
    }

    /// The data stopped early: truncated if the header said how much to expect, else corrupt.
    fn ran_out(&self) -> DecodeError {
        match self.info.frames {
            Some(declared) if self.frames_read < declared => DecodeError::Truncated {
                path: self.info.path.clone(),
                declared,
                got: self.frames_read,
            },
            _ => self.corrupt("the file ends in the middle of a packet (is it cut short?)".into()),
        }
    }

    fn corrupt(&self, detail: String) -> DecodeError {
        DecodeError::Corrupt {
            path: self.info.path.clone(),
            at: self.frames_read,
            detail,
        }
    }

    fn stream_error(&self, e: SymError) -> DecodeError {
        match e {
            SymError::IoError(source) => DecodeError::Unreadable {
                path: self.info.path.clone(),
                source,
            },
            SymError::Unsupported(what) => DecodeError::UnsupportedFormat {
                path: self.info.path.clone(),
                found: what.to_string(),
            },
            SymError::ResetRequired => {
                self.corrupt("a new stream starts mid-file (chained stream)".into())
            }
            other => self.corrupt(other.to_string()),
        }
    }
}

/// Run a symphonia call, turning a panic inside it into a decode error: symphonia parses untrusted
/// bytes, and a bug there must reach the user as "corrupt file", not as a crash.
fn guarded<T>(f: impl FnOnce() -> Result<T, SymError>) -> Result<T, SymError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(Err(SymError::DecodeError(
        "the decoder failed on malformed data",
    )))
}

fn io_error(path: &Path, e: io::Error) -> DecodeError {
    if e.kind() == io::ErrorKind::NotFound {
        DecodeError::NotFound {
            path: path.to_path_buf(),
        }
    } else {
        DecodeError::Unreadable {
            path: path.to_path_buf(),
            source: e,
        }
    }
}

/// Map an error met while reading the header (probe, decoder setup).
fn header_error(path: &Path, e: SymError) -> DecodeError {
    let path = path.to_path_buf();
    match e {
        SymError::IoError(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            // An AIFF reader walks every chunk before the first packet, so a cut-off file fails
            // here; put numbers on it when the header is readable.
            match peek_header(&path) {
                Some(PeekedHeader {
                    frames: Some(declared),
                    frames_present: Some(got),
                    ..
                }) if got < declared => DecodeError::Truncated {
                    path,
                    declared,
                    got,
                },
                _ => DecodeError::Corrupt {
                    path,
                    at: 0,
                    detail: "the file ends before its header is complete (is it cut short?)".into(),
                },
            }
        }
        SymError::IoError(source) => DecodeError::Unreadable { path, source },
        SymError::Unsupported(what) => DecodeError::UnsupportedFormat {
            path,
            found: if what.contains("no suitable format reader") {
                "not a WAV, FLAC, AIFF, MP3 or Ogg Vorbis file".into()
            } else {
                what.to_string()
            },
        },
        other => DecodeError::Corrupt {
            path,
            at: 0,
            detail: other.to_string(),
        },
    }
}

/// What a WAV (`fmt `, `data`) or AIFF (`COMM`, `SSND`) header declares, read directly from the
/// file's first 64 KiB. Only used on error paths, to put numbers on what symphonia refuses
/// without saying why (a channel count of 0, an AIFF cut short).
#[derive(Debug, Default)]
struct PeekedHeader {
    channels: Option<usize>,
    /// Frames the header declares.
    frames: Option<u64>,
    /// Whole frames actually present in the file after the start of the sample data.
    frames_present: Option<u64>,
}

fn peek_header(path: &Path) -> Option<PeekedHeader> {
    use std::io::Read;
    let file_len = std::fs::metadata(path).ok()?.len();
    let mut head = Vec::new();
    File::open(path)
        .ok()?
        .take(64 * 1024)
        .read_to_end(&mut head)
        .ok()?;
    let wav = match head.get(0..4)? {
        b"RIFF" => true,
        b"FORM" => false,
        _ => return None,
    };
    let u16_at = |at: usize| -> Option<u64> {
        let b: [u8; 2] = head.get(at..at + 2)?.try_into().ok()?;
        Some(u64::from(if wav {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        }))
    };
    let u32_at = |at: usize| -> Option<u64> {
        let b: [u8; 4] = head.get(at..at + 4)?.try_into().ok()?;
        Some(u64::from(if wav {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }))
    };
    let mut found = PeekedHeader::default();
    let mut block_align = None;
    let mut data = None; // (start of sample data, declared data bytes)
    let mut pos = 12usize;
    while pos + 8 <= head.len() {
        let id = &head[pos..pos + 4];
        let len = u32_at(pos + 4)?;
        let body = pos + 8;
        match (wav, id) {
            (true, b"fmt ") => {
                let channels = u16_at(body + 2)?;
                found.channels = Some(channels as usize);
                block_align = Some(u16_at(body + 12)?);
            }
            (true, b"data") => data = Some((body as u64, Some(len))),
            (false, b"COMM") => {
                let channels = u16_at(body)?;
                found.channels = Some(channels as usize);
                found.frames = Some(u32_at(body + 2)?);
                block_align = Some(channels * u16_at(body + 6)?.div_ceil(8));
            }
            (false, b"SSND") => data = Some((body as u64 + 8 + u32_at(body)?, None)),
            _ => {}
        }
        pos = body
            .checked_add(usize::try_from(len).ok()?)?
            .checked_add(len as usize & 1)?;
    }
    if let (Some(align), Some((start, data_len))) = (block_align.filter(|&a| a > 0), data) {
        if let Some(bytes) = data_len {
            found.frames = Some(bytes / align);
        }
        found.frames_present = Some(file_len.saturating_sub(start) / align);
    }
    Some(found)
}

#[cfg(test)]
#[path = "../../tests/fixtures.rs"]
mod fixtures;

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use std::path::PathBuf;

    /// A fresh, empty scratch folder per test, removed when the test ends (no tempfile
    /// dependency needed in unit tests).
    struct Scratch(PathBuf);

    impl std::ops::Deref for Scratch {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn scratch(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("mixwright-decode-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }

    /// Decode a whole file, checking the streaming contract on the way.
    fn decode_all(path: &Path) -> Result<(StemInfo, Vec<f32>), DecodeError> {
        let mut reader = StemReader::open(path)?;
        let info = reader.info().clone();
        let mut all = Vec::new();
        let mut block = vec![1.0; 7]; // must be cleared by every call
        while reader.next_block(&mut block)? {
            assert!(
                !block.is_empty(),
                "a block reported as data must hold frames"
            );
            assert_eq!(block.len() % info.channels, 0, "blocks hold whole frames");
            // One packet at a time: bounded however long the file is.
            assert!(
                block.len() <= 65_536 * info.channels,
                "block of {} samples",
                block.len()
            );
            all.extend_from_slice(&block);
        }
        assert!(
            block.is_empty(),
            "the end-of-stream call leaves `out` empty"
        );
        assert!(!reader.next_block(&mut block)?, "stays at end");
        Ok((info, all))
    }

    /// Decode whatever a file yields, for robustness tests: never panics, returns the outcome.
    fn decode_anything(path: &Path) -> Result<usize, DecodeError> {
        let mut reader = StemReader::open(path)?;
        let mut block = Vec::new();
        let mut n = 0;
        while reader.next_block(&mut block)? {
            assert!(block.iter().all(|x| x.is_finite()));
            n += block.len();
        }
        Ok(n)
    }

    #[test]
    fn wav_every_format_and_header_decodes_to_the_stored_values() {
        let dir = scratch("wav-matrix");
        let frames = 10_007; // not a multiple of any packet size
        for (seed, &format) in SampleFormat::ALL.iter().enumerate() {
            for header in [WavHeader::Plain, WavHeader::Extensible, WavHeader::Bwf] {
                for channels in [1u16, 2] {
                    let signal = test_signal(44_100, channels as usize, frames, seed as u64);
                    let path = dir.join(format!("{format:?}-{header:?}-{channels}.wav"));
                    write_wav_with(&path, 44_100, channels, format, header, &signal)
                        .expect("write wav");
                    let (info, got) = decode_all(&path)
                        .unwrap_or_else(|e| panic!("{format:?} {header:?} {channels}ch: {e}"));

                    assert_eq!(info.sample_rate, 44_100);
                    assert_eq!(info.channels, channels as usize);
                    assert_eq!(info.frames, Some(frames as u64));
                    assert_eq!(info.bits_per_sample, Some(u32::from(format.bits())));
                    assert_eq!(
                        got.len(),
                        signal.len(),
                        "{format:?} {header:?} {channels}ch"
                    );
                    let mut worst_vs_stored = 0.0f64;
                    let mut worst_vs_source = 0.0f64;
                    for (&g, &x) in got.iter().zip(&signal) {
                        worst_vs_stored =
                            worst_vs_stored.max((f64::from(g) - format.stored_value(x)).abs());
                        worst_vs_source = worst_vs_source.max((f64::from(g) - f64::from(x)).abs());
                    }
                    match format {
                        // Float files round-trip exactly.
                        SampleFormat::Float32 | SampleFormat::Float64 => {
                            assert_eq!(worst_vs_source, 0.0, "{format:?} {header:?}");
                        }
                        // Integers: the decoded value is the stored integer over 2^(bits-1)
                        // (up to f32 rounding for 32-bit), within one LSB of the source.
                        _ => {
                            assert!(
                                worst_vs_stored <= 1e-7 * 0.5f64.max(format.lsb()),
                                "{format:?} {header:?}: {worst_vs_stored:e} from stored values"
                            );
                            assert!(
                                worst_vs_source <= format.lsb().max(f64::from(f32::EPSILON)),
                                "{format:?} {header:?}: {worst_vs_source:e} from the source"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn twenty_four_bit_is_within_one_lsb_and_names_its_codec() {
        let dir = scratch("s24");
        let signal = test_signal(48_000, 2, 48_000, 24);
        let path = dir.join("s24.wav");
        write_wav(&path, 48_000, 2, SampleFormat::Int24, &signal).expect("write");
        let (info, got) = decode_all(&path).expect("decode");
        assert_eq!(info.codec, "pcm_s24le");
        let lsb = 1.0 / 8_388_608.0;
        let worst = got
            .iter()
            .zip(&signal)
            .map(|(&g, &x)| (f64::from(g) - f64::from(x)).abs())
            .fold(0.0, f64::max);
        // Rounding to the nearest step leaves at most half an LSB.
        assert!(
            worst <= 0.5 * lsb + 1e-12,
            "worst error {} LSB",
            worst / lsb
        );
    }

    #[test]
    fn wav_written_by_hound_decodes() {
        let dir = scratch("hound");
        let signal = test_signal(22_050, 2, 5_000, 7);
        for bits in [16u16, 24] {
            let path = dir.join(format!("hound{bits}.wav"));
            let spec = hound::WavSpec {
                channels: 2,
                sample_rate: 22_050,
                bits_per_sample: bits,
                sample_format: hound::SampleFormat::Int,
            };
            let mut w = hound::WavWriter::create(&path, spec).expect("hound create");
            let scale = f64::from(1u32 << (bits - 1));
            for &x in &signal {
                let q = (f64::from(x) * scale).round() as i32;
                w.write_sample(q).expect("hound write");
            }
            w.finalize().expect("hound finalize");
            let (info, got) = decode_all(&path).expect("decode hound file");
            assert_eq!((info.sample_rate, info.channels), (22_050, 2));
            assert_eq!(got.len(), signal.len());
            let lsb = 1.0 / scale;
            for (&g, &x) in got.iter().zip(&signal) {
                assert!((f64::from(g) - f64::from(x)).abs() <= lsb);
            }
        }
    }

    #[test]
    fn every_rate_from_8_to_192_khz_is_accepted_and_others_are_not() {
        let dir = scratch("rates");
        // 1000 mono samples at `rate`.
        let wav_at = |rate: u32| {
            let path = dir.join(format!("{rate}.wav"));
            let signal = test_signal(rate, 1, 1000, 1);
            write_wav(&path, rate, 1, SampleFormat::Int16, &signal).expect("write");
            path
        };
        for rate in [
            8_000, 11_025, 16_000, 22_050, 32_000, 44_100, 48_000, 88_200, 96_000, 176_400, 192_000,
        ] {
            let (info, got) = decode_all(&wav_at(rate)).expect("decode");
            assert_eq!((info.sample_rate, got.len()), (rate, 1000));
        }
        for rate in [4_000, 384_000] {
            match StemReader::open(&wav_at(rate)) {
                Err(DecodeError::UnsupportedSampleRate { got, .. }) => assert_eq!(got, rate),
                other => panic!("{rate} Hz: expected UnsupportedSampleRate, got {other:?}"),
            }
        }
    }

    #[test]
    fn channel_counts_other_than_one_or_two_are_refused_with_the_count() {
        let dir = scratch("channels");
        for (channels, header) in [
            (6u16, WavHeader::Plain),
            (6, WavHeader::Extensible),
            (3, WavHeader::Plain),
            (0, WavHeader::Plain),
        ] {
            let path = dir.join(format!("{channels}-{header:?}.wav"));
            let samples = test_signal(44_100, channels.max(1) as usize, 100, 3);
            write_wav_with(
                &path,
                44_100,
                channels,
                SampleFormat::Int16,
                header,
                &samples,
            )
            .expect("write");
            let err = StemReader::open(&path).expect_err("must refuse");
            match &err {
                DecodeError::UnsupportedChannels { got, path: p } => {
                    assert_eq!(*got, channels as usize);
                    assert_eq!(p, &path);
                }
                other => panic!("{channels} channels: expected UnsupportedChannels, got {other:?}"),
            }
            let msg = err.to_string();
            assert!(
                msg.contains(&format!("expected 1 or 2 channels, got {channels}")),
                "{msg}"
            );
            assert!(msg.contains(&path.display().to_string()), "{msg}");
        }
    }

    #[test]
    fn truncated_wav_is_an_error_after_its_audio() {
        let dir = scratch("truncated");
        let frames = 20_000;
        let signal = test_signal(44_100, 2, frames, 5);
        for format in [
            SampleFormat::Int16,
            SampleFormat::Int24,
            SampleFormat::Float64,
        ] {
            let path = dir.join(format!("{format:?}.wav"));
            write_wav(&path, 44_100, 2, format, &signal).expect("write");
            let full = std::fs::metadata(&path).expect("stat").len();
            let frame_bytes = 2 * u64::from(format.bits() / 8);
            // Cut at a frame boundary and in the middle of a frame.
            for cut in [frame_bytes * 5_000, frame_bytes * 5_000 + 3] {
                let path2 = dir.join(format!("{format:?}-{cut}.wav"));
                std::fs::copy(&path, &path2).expect("copy");
                truncate_file(&path2, full - cut).expect("truncate");

                let mut reader = StemReader::open(&path2).expect("header is intact");
                assert_eq!(reader.info().frames, Some(frames as u64));
                let mut block = Vec::new();
                let mut got = Vec::new();
                let err = loop {
                    match reader.next_block(&mut block) {
                        Ok(true) => got.extend_from_slice(&block),
                        Ok(false) => panic!("{format:?}: truncation passed silently"),
                        Err(e) => break e,
                    }
                };
                match err {
                    DecodeError::Truncated {
                        declared, got: n, ..
                    } => {
                        assert_eq!(declared, frames as u64);
                        // Every whole frame the file still holds was delivered.
                        let present = (frames as u64 * frame_bytes - cut) / frame_bytes;
                        assert_eq!(n, present, "{format:?} cut {cut}");
                        assert_eq!(n as usize * 2, got.len());
                    }
                    other => panic!("{format:?}: expected Truncated, got {other:?}"),
                }
                // What was delivered before the error is the file's real audio.
                for (&g, &x) in got.iter().zip(&signal) {
                    assert!((f64::from(g) - format.stored_value(x)).abs() < 1e-6);
                }
                assert!(!reader.next_block(&mut block).expect("ended"));
            }
        }
    }

    #[test]
    fn empty_and_missing_and_non_audio_files_are_refused() {
        let dir = scratch("refuse");
        let empty = dir.join("empty.wav");
        write_wav(&empty, 44_100, 2, SampleFormat::Int16, &[]).expect("write");
        assert!(matches!(
            StemReader::open(&empty),
            Err(DecodeError::Empty { .. })
        ));

        let missing = dir.join("missing.wav");
        assert!(matches!(
            StemReader::open(&missing),
            Err(DecodeError::NotFound { .. })
        ));

        assert!(matches!(
            StemReader::open(&dir),
            Err(DecodeError::Unreadable { .. })
        ));

        let zero = dir.join("zero-bytes.wav");
        std::fs::write(&zero, b"").expect("write");
        assert!(StemReader::open(&zero).is_err());

        let text = dir.join("notes.wav");
        std::fs::write(
            &text,
            "these are not the stems you are looking for\n".repeat(50),
        )
        .expect("write");
        match StemReader::open(&text) {
            Err(DecodeError::UnsupportedFormat { found, .. }) => {
                assert!(found.contains("not a WAV"), "{found}")
            }
            other => panic!("expected UnsupportedFormat, got {other:?}"),
        }
    }

    #[test]
    fn non_finite_samples_are_located() {
        let dir = scratch("nonfinite");
        let mut signal = test_signal(48_000, 2, 4_000, 9);
        signal[2 * 3_001 + 1] = f32::NAN;
        let path = dir.join("nan.wav");
        write_wav(&path, 48_000, 2, SampleFormat::Float32, &signal).expect("write");
        assert_eq!(non_finite_at(&path), (3_001, 1));

        let mut signal = test_signal(48_000, 1, 4_000, 9);
        signal[17] = f32::NEG_INFINITY;
        let path = dir.join("inf64.wav");
        write_wav(&path, 48_000, 1, SampleFormat::Float64, &signal).expect("write");
        assert_eq!(non_finite_at(&path), (17, 0));
    }

    /// Where decoding `path` finds its first non-finite sample: (frame, channel).
    fn non_finite_at(path: &Path) -> (u64, usize) {
        match decode_all(path) {
            Err(DecodeError::NonFinite { frame, channel, .. }) => (frame, channel),
            other => panic!("expected NonFinite, got {other:?}"),
        }
    }

    #[test]
    fn a_double_too_large_for_f32_is_non_finite() {
        let dir = scratch("f64-huge");
        let signal = test_signal(48_000, 1, 100, 2);
        let path = dir.join("huge.wav");
        write_wav(&path, 48_000, 1, SampleFormat::Float64, &signal).expect("write");
        // Overwrite sample 50 with 1e300 (finite in f64, infinite as f32).
        let mut bytes = std::fs::read(&path).expect("read");
        let data_at = bytes.len() - 100 * 8;
        bytes[data_at + 50 * 8..data_at + 51 * 8].copy_from_slice(&1e300f64.to_le_bytes());
        std::fs::write(&path, bytes).expect("write");
        assert_eq!(non_finite_at(&path), (50, 0));
    }

    /// Encode a 24-bit WAV of `signal` to `ext` with ffmpeg; returns the encoded file's path.
    fn encoded(dir: &Path, rate: u32, channels: u16, signal: &[f32], ext: &str) -> PathBuf {
        let wav = dir.join(format!("src-{rate}-{channels}.wav"));
        write_wav(&wav, rate, channels, SampleFormat::Int24, signal).expect("write source");
        let dst = dir.join(format!("enc-{rate}-{channels}.{ext}"));
        encode_with_ffmpeg(&wav, &dst).expect("ffmpeg encode");
        dst
    }

    #[test]
    fn flac_and_aiff_are_lossless() {
        let dir = scratch("lossless");
        for (rate, channels) in [(44_100u32, 2u16), (96_000, 1)] {
            let frames = 30_011;
            let signal = test_signal(rate, channels as usize, frames, u64::from(rate));
            for (ext, codec) in [("flac", "flac"), ("aiff", "pcm_s24be")] {
                let path = encoded(&dir, rate, channels, &signal, ext);
                let (info, got) = decode_all(&path).unwrap_or_else(|e| panic!("{ext}: {e}"));
                assert_eq!(info.codec, codec);
                assert_eq!(info.bits_per_sample, Some(24), "{ext}");
                assert_eq!((info.sample_rate, info.channels), (rate, channels as usize));
                assert_eq!(info.frames, Some(frames as u64), "{ext}");
                assert_eq!(got.len(), signal.len(), "{ext}");
                for (&g, &x) in got.iter().zip(&signal) {
                    let want = SampleFormat::Int24.stored_value(x);
                    assert!((f64::from(g) - want).abs() < 1e-9, "{ext}: {g} vs {want}");
                }
            }
        }
    }

    #[test]
    fn a_flac_header_that_misstates_the_length_is_caught_both_ways() {
        let dir = scratch("flac-length");
        let signal = test_signal(44_100, 2, 44_100, 19);
        let path = encoded(&dir, 44_100, 2, &signal, "flac");
        let mut bytes = std::fs::read(&path).expect("read");
        // STREAMINFO is the first metadata block; the low 32 bits of its 36-bit total sample
        // count sit at file offset 22..26.
        assert_eq!(&bytes[0..4], b"fLaC");
        assert_eq!(
            u32::from_be_bytes(bytes[22..26].try_into().expect("4 bytes")),
            44_100
        );
        for declared in [39_100u32, 49_100] {
            bytes[22..26].copy_from_slice(&declared.to_be_bytes());
            std::fs::write(&path, &bytes).expect("write");
            match decode_all(&path) {
                Err(DecodeError::Truncated {
                    declared: d, got, ..
                }) if declared > 44_100 => {
                    assert_eq!((d, got), (49_100, 44_100))
                }
                Err(DecodeError::Corrupt { at, detail, .. }) if declared < 44_100 => {
                    assert!(at <= 39_100, "{at}");
                    assert!(
                        detail.contains("more audio than the 39100 frames"),
                        "{detail}"
                    );
                }
                other => panic!("declared {declared}: got {other:?}"),
            }
        }
    }

    /// Best lag (in frames, |lag| <= max_lag) of `got` against `want` on channel 0, and the
    /// normalised correlation at that lag.
    fn best_alignment(want: &[f32], got: &[f32], channels: usize, max_lag: i64) -> (i64, f64) {
        let a: Vec<f64> = want
            .iter()
            .step_by(channels)
            .map(|&x| f64::from(x))
            .collect();
        let b: Vec<f64> = got
            .iter()
            .step_by(channels)
            .map(|&x| f64::from(x))
            .collect();
        let mut best = (0, f64::MIN);
        for lag in -max_lag..=max_lag {
            let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
            for (i, &x) in a.iter().enumerate() {
                let j = i as i64 + lag;
                if j < 0 || j as usize >= b.len() {
                    continue;
                }
                let y = b[j as usize];
                ab += x * y;
                aa += x * x;
                bb += y * y;
            }
            let r = ab / (aa * bb).sqrt().max(1e-30);
            if r > best.1 {
                best = (lag, r);
            }
        }
        best
    }

    #[test]
    fn mp3_and_vorbis_decode_close_to_the_source_and_aligned() {
        let dir = scratch("lossy");
        let rate = 44_100;
        let frames = 44_100;
        let signal = test_signal(rate, 2, frames, 11);
        for ext in ["mp3", "ogg"] {
            let path = encoded(&dir, rate, 2, &signal, ext);
            let (info, got) = decode_all(&path).unwrap_or_else(|e| panic!("{ext}: {e}"));
            assert_eq!(info.bits_per_sample, None);
            assert_eq!((info.sample_rate, info.channels), (rate, 2));
            let decoded_frames = got.len() / 2;
            // Gapless trimming: the decoded length matches the source exactly when the file says
            // how long it is, and is at most one MP3 frame of padding longer otherwise.
            if let Some(n) = info.frames {
                assert_eq!(n as usize, decoded_frames, "{ext}");
            }
            assert!(
                decoded_frames >= frames && decoded_frames <= frames + 1152,
                "{ext}: {decoded_frames} frames for {frames}"
            );
            let (lag, r) = best_alignment(&signal[..2 * 12_000], &got, 2, 1_500);
            assert!(r > 0.99, "{ext}: correlation {r} at lag {lag}");
            // Encoder delay is trimmed: the audio starts where the source did.
            assert_eq!(lag, 0, "{ext}: decoded audio is {lag} frames late");
        }
    }

    #[test]
    fn truncated_compressed_files_are_errors() {
        let dir = scratch("truncated-compressed");
        let signal = test_signal(44_100, 2, 44_100, 13);
        for ext in ["flac", "aiff", "mp3", "ogg"] {
            let path = encoded(&dir, 44_100, 2, &signal, ext);
            let full = std::fs::metadata(&path).expect("stat").len();
            let cut = dir.join(format!("cut.{ext}"));
            std::fs::copy(&path, &cut).expect("copy");
            truncate_file(&cut, full * 2 / 3).expect("truncate");
            match decode_all(&cut) {
                Err(DecodeError::Truncated { declared, got, .. }) => {
                    assert_eq!(declared, 44_100, "{ext}");
                    assert!(got < declared, "{ext}");
                    // What is left is most of the file (minus header and per-format overhead).
                    assert!(got > declared / 2, "{ext}: {got} of {declared}");
                }
                // The Ogg reader reads the last page while opening, so a cut is found there,
                // before the length is known.
                Err(DecodeError::Corrupt { at: 0, detail, .. }) if ext == "ogg" => {
                    assert!(detail.contains("cut short"), "{detail}");
                }
                other => panic!("{ext}: expected Truncated, got {other:?}"),
            }
        }
    }

    #[test]
    fn random_bytes_and_damaged_files_never_panic() {
        let dir = scratch("fuzz");
        let mut rng = Rng::new(0xF00D);
        let path = dir.join("fuzz.bin");

        // Pure noise of many lengths.
        for i in 0..200 {
            let len = rng.range(0, 8_192);
            write_garbage(&path, len, i).expect("write");
            let _ = decode_anything(&path);
        }

        // Valid files of every kind, cut at many lengths and with random bytes flipped.
        let signal = test_signal(22_050, 2, 6_000, 17);
        let mut sources = Vec::new();
        for format in SampleFormat::ALL {
            for header in [WavHeader::Plain, WavHeader::Extensible, WavHeader::Bwf] {
                let p = dir.join(format!("src-{format:?}-{header:?}.wav"));
                write_wav_with(&p, 22_050, 2, format, header, &signal).expect("write");
                sources.push(p);
            }
        }
        for ext in ["flac", "aiff", "mp3", "ogg"] {
            sources.push(encoded(&dir, 22_050, 2, &signal, ext));
        }
        for src in &sources {
            let bytes = std::fs::read(src).expect("read");
            let ext = src.extension().and_then(|e| e.to_str()).unwrap_or("bin");
            let case = dir.join(format!("case.{ext}"));
            for _ in 0..25 {
                let len = rng.range(0, bytes.len());
                std::fs::write(&case, &bytes[..len]).expect("write");
                let _ = decode_anything(&case);
            }
            for _ in 0..25 {
                let mut damaged = bytes.clone();
                // Concentrate damage in the headers, where parsing decisions are made.
                for _ in 0..rng.range(1, 8) {
                    let at = if rng.uniform() < 0.7 {
                        rng.range(0, damaged.len().min(256) - 1)
                    } else {
                        rng.range(0, damaged.len() - 1)
                    };
                    damaged[at] = rng.next_u64() as u8;
                }
                std::fs::write(&case, &damaged).expect("write");
                let _ = decode_anything(&case);
            }
        }
    }

    #[test]
    fn errors_name_the_file_and_the_values() {
        let p = PathBuf::from("/stems/kick.wav");
        let e = DecodeError::Truncated {
            path: p.clone(),
            declared: 480_000,
            got: 123_456,
        };
        assert_eq!(
            e.to_string(),
            "/stems/kick.wav: truncated: the header declares 480000 frames but only 123456 could be read"
        );
        assert_eq!(e.path(), p.as_path());
        let e = DecodeError::NonFinite {
            path: p.clone(),
            frame: 9,
            channel: 1,
        };
        assert!(e.to_string().contains("frame 9, channel 1"));
    }
}
