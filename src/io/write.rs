//! Safe delivery of audio files: WAV (16/24-bit integer, 32-bit float) and FLAC (16/24-bit).
//!
//! Three promises, because a mix engineer's tool must never lose the user's material:
//! - **Atomic**: samples go to a hidden temporary file beside the target; only
//!   [`AudioWriter::finish`] flushes, fsyncs and renames it onto the target. A failure or
//!   an abandoned writer leaves no half-written file (dropping removes the temporary).
//! - **Inputs are sacred**: a target that resolves to one of the input files (through
//!   `..`, a relative spelling or a symlink) is refused before anything is created.
//! - **Streaming**: memory does not grow with length. WAV goes through `hound` straight
//!   to disk; FLAC is encoded one 4096-frame block at a time and the STREAMINFO header
//!   (length, MD5) is patched in at the end by seeking back.
//!
//! Integer formats get TPDF dither ([`TpdfDither`]); 32-bit float is written as is.
//! Non-finite samples are an error, never written.

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use flacenc::bitsink::MemSink;
use flacenc::component::{BitRepr, ChannelAssignment, Frame, FrameHeader, FrameOffset, StreamInfo};
use flacenc::error::{Verified, Verify};
use flacenc::source::{Context, Fill, FrameBuf};

use crate::dsp::dither::TpdfDither;
use crate::io::interrupt::LiveTemp;

/// Frames per FLAC block: the reference encoder's default, a good size/speed balance.
const FLAC_BLOCK: usize = 4096;

/// Highest rate `flacenc` accepts in its own StreamInfo. Above it we encode with this
/// placeholder (it only feeds the frame headers, which we rebuild with the true rate)
/// and write the true rate in our own STREAMINFO.
const FLACENC_MAX_RATE: u32 = 96_000;

/// Offset of the STREAMINFO body: after "fLaC" and its 4-byte metadata block header.
const STREAMINFO_OFFSET: u64 = 8;

/// RIFF sizes are 32-bit: `hound` counts data bytes in a `u32` and adds the header to it,
/// so stop with room for the largest header it writes (WAVEFORMATEXTENSIBLE, 68 bytes).
const WAV_DATA_LIMIT: u64 = u32::MAX as u64 - 1024;

/// The format of a delivered file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutputFormat {
    /// WAV, 16-bit integer PCM, TPDF-dithered.
    Wav16,
    /// WAV, 24-bit integer PCM, TPDF-dithered.
    Wav24,
    /// WAV, 32-bit IEEE float, undithered (float needs no dither).
    Wav32Float,
    /// FLAC, 16-bit, TPDF-dithered.
    Flac16,
    /// FLAC, 24-bit, TPDF-dithered.
    Flac24,
}

impl OutputFormat {
    /// Every format, in the order of its names in [`OutputFormat::parse`].
    const ALL: [OutputFormat; 5] = [
        Self::Wav16,
        Self::Wav24,
        Self::Wav32Float,
        Self::Flac16,
        Self::Flac24,
    ];

    /// Parses a `--format` value: `wav16`, `wav24`, `wav32f`, `flac16` or `flac24`
    /// (ASCII case-insensitive).
    pub fn parse(s: &str) -> Result<Self, WriteError> {
        Self::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| WriteError::BadFormat(s.to_owned()))
    }

    /// The default format for a file name: `.wav`/`.wave` → [`Wav24`](Self::Wav24),
    /// `.flac` → [`Flac24`](Self::Flac24) (case-insensitive); `None` otherwise.
    pub fn from_extension(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "wav" | "wave" => Some(Self::Wav24),
            "flac" => Some(Self::Flac24),
            _ => None,
        }
    }

    /// The name [`OutputFormat::parse`] accepts.
    pub fn name(self) -> &'static str {
        match self {
            Self::Wav16 => "wav16",
            Self::Wav24 => "wav24",
            Self::Wav32Float => "wav32f",
            Self::Flac16 => "flac16",
            Self::Flac24 => "flac24",
        }
    }

    /// Integer word length, or `None` for float.
    fn int_bits(self) -> Option<u32> {
        match self {
            Self::Wav16 | Self::Flac16 => Some(16),
            Self::Wav24 | Self::Flac24 => Some(24),
            Self::Wav32Float => None,
        }
    }

    fn is_flac(self) -> bool {
        matches!(self, Self::Flac16 | Self::Flac24)
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a file could not be written. Every variant that concerns a file names it.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The target is one of the inputs (possibly through `..`, another spelling or a symlink).
    #[error("refusing to write {}: it is one of the input files", path.display())]
    SameAsInput { path: PathBuf },
    /// The file system refused: missing folder, permission denied, disk full, ...
    /// `source.kind()` tells which.
    #[error("cannot write {}: {}", path.display(), crate::error::describe_io(source))]
    NotWritable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A NaN or infinity at this frame (counted from the start of the file); the block
    /// holding it was not written, earlier blocks were.
    #[error("{}: frame {frame} holds a non-finite sample (NaN or infinity); that block was not written", path.display())]
    NonFinite { path: PathBuf, frame: u64 },
    /// An unknown format name.
    #[error("unknown output format {0:?}: expected wav16, wav24, wav32f, flac16 or flac24")]
    BadFormat(String),
    /// The format cannot carry this stream (channel count, sample rate, WAV's 4 GiB).
    #[error("cannot write {}: {reason}", path.display())]
    Unsupported { path: PathBuf, reason: String },
    /// A block whose length is not a whole number of frames.
    #[error("{}: block of {samples} samples is not a whole number of {channels}-channel frames", path.display())]
    PartialFrame {
        path: PathBuf,
        samples: usize,
        channels: usize,
    },
    /// The encoder library failed (a bug on our side or theirs, not bad input).
    #[error("{}: encoder failed: {message}", path.display())]
    Encode { path: PathBuf, message: String },
}

/// Streams interleaved f32 frames into a WAV or FLAC file, atomically.
///
/// ```no_run
/// # use mixwright::io::write::{AudioWriter, OutputFormat};
/// # use std::path::{Path, PathBuf};
/// let inputs = vec![PathBuf::from("vocal.wav")];
/// let mut w = AudioWriter::create(Path::new("mix.flac"), OutputFormat::Flac24, 48_000, 2, &inputs)?;
/// w.write(&[0.0, 0.0, 0.1, -0.1])?;
/// let written = w.finish()?; // only now does mix.flac appear
/// # Ok::<(), mixwright::io::write::WriteError>(())
/// ```
pub struct AudioWriter {
    path: PathBuf,
    /// Owns the temporary name: dropping it unfinished (or a signal) deletes the file.
    temp: LiveTemp,
    channels: usize,
    frames: u64,
    sink: Sink,
}

enum Sink {
    Wav(WavSink),
    Flac(Box<FlacSink>),
}

impl AudioWriter {
    /// Creates a temporary file beside `path`; nothing appears at `path` until
    /// [`finish`](Self::finish).
    ///
    /// Refuses with [`WriteError::SameAsInput`] when `path` resolves to one of
    /// `protected` (the inputs): both sides are canonicalised, and a path that does not
    /// exist yet is compared by its canonical parent plus file name. Checks the format
    /// can carry `sample_rate` and `channels` before creating anything.
    pub fn create(
        path: &Path,
        format: OutputFormat,
        sample_rate: u32,
        channels: usize,
        protected: &[PathBuf],
    ) -> Result<Self, WriteError> {
        let unsupported = |reason: String| WriteError::Unsupported {
            path: path.to_owned(),
            reason,
        };
        let not_writable = |source: io::Error| WriteError::NotWritable {
            path: path.to_owned(),
            source,
        };

        let Some(file_name) = path.file_name() else {
            return Err(not_writable(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the path names no file",
            )));
        };
        check_target(path, protected)?;
        if path.is_dir() {
            return Err(not_writable(io::Error::new(
                io::ErrorKind::IsADirectory,
                "it is a folder",
            )));
        }

        if sample_rate == 0 {
            return Err(unsupported("sample rate 0 Hz".into()));
        }
        if channels == 0 {
            return Err(unsupported("0 channels".into()));
        }
        if format.is_flac() {
            check_flac_stream(format, sample_rate, channels).map_err(unsupported)?;
        } else if channels > usize::from(u16::MAX) {
            return Err(unsupported(format!(
                "WAV holds at most {} channels, got {channels}",
                u16::MAX
            )));
        }

        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        // ".mix.flac.XXXXXX.part": hidden, and says what it will become.
        let mut prefix = OsString::from(".");
        prefix.push(file_name);
        prefix.push(".");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".part");
        // tempfile creates 0600; ask for 0666 so the umask gives what `File::create` would.
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        let temp = LiveTemp::create(&builder, dir).map_err(not_writable)?;
        let file = temp.as_file().try_clone().map_err(not_writable)?;

        let sink = match format.int_bits() {
            Some(bits) if format.is_flac() => Sink::Flac(Box::new(
                FlacSink::new(file, bits, sample_rate, channels).map_err(|e| e.at(path))?,
            )),
            bits => {
                Sink::Wav(WavSink::new(file, bits, sample_rate, channels).map_err(|e| e.at(path))?)
            }
        };
        Ok(Self {
            path: path.to_owned(),
            temp,
            channels,
            frames: 0,
            sink,
        })
    }

    /// Appends interleaved f32 frames. Values are clamped to [-1, 1] (integer formats
    /// dithered first). A NaN or infinity anywhere in the block fails the whole block with
    /// [`WriteError::NonFinite`] before any of it is written; the writer stays usable.
    pub fn write(&mut self, interleaved: &[f32]) -> Result<(), WriteError> {
        if !interleaved.len().is_multiple_of(self.channels) {
            return Err(WriteError::PartialFrame {
                path: self.path.clone(),
                samples: interleaved.len(),
                channels: self.channels,
            });
        }
        if let Some(i) = interleaved.iter().position(|s| !s.is_finite()) {
            return Err(WriteError::NonFinite {
                path: self.path.clone(),
                frame: self.frames + (i / self.channels) as u64,
            });
        }
        match &mut self.sink {
            Sink::Wav(w) => w.write(interleaved),
            Sink::Flac(f) => f.write(interleaved),
        }
        .map_err(|e| e.at(&self.path))?;
        self.frames += (interleaved.len() / self.channels) as u64;
        Ok(())
    }

    /// Frames written so far.
    pub fn frames_written(&self) -> u64 {
        self.frames
    }

    /// The target path, as given to [`create`](Self::create).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Completes the headers, flushes, fsyncs and atomically renames the temporary file
    /// onto the target (replacing any previous file there). Returns the target path.
    /// On error the temporary file is removed and the target is untouched.
    pub fn finish(self) -> Result<PathBuf, WriteError> {
        let Self {
            path, temp, sink, ..
        } = self;
        match sink {
            Sink::Wav(w) => w.finish(),
            Sink::Flac(f) => f.finish(),
        }
        .map_err(|e| e.at(&path))?;
        let not_writable = |source: io::Error| WriteError::NotWritable {
            path: path.clone(),
            source,
        };
        temp.as_file().sync_all().map_err(not_writable)?;
        temp.persist(&path).map_err(not_writable)?;
        // Make the rename itself durable. Best effort: the file is complete and in place
        // already, so a failure here must not be reported as a failed write.
        #[cfg(unix)]
        if let Some(dir) = path.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(path)
    }
}

/// Where `path` points once `.`, `..` and symlinks are resolved. A path that does not
/// exist (yet) resolves through its parent, so `out/../in.wav` and `in.wav` meet even
/// before either exists.
fn resolve(path: &Path) -> PathBuf {
    if let Ok(p) = fs::canonicalize(path) {
        return p;
    }
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    match (abs.parent(), abs.file_name()) {
        (Some(parent), Some(name)) => fs::canonicalize(parent)
            .map(|p| p.join(name))
            .unwrap_or(abs),
        _ => abs,
    }
}

/// FLAC limits, checked up front so no temporary file is created for a stream it cannot hold.
fn check_flac_stream(
    format: OutputFormat,
    sample_rate: u32,
    channels: usize,
) -> Result<(), String> {
    if channels > 8 {
        return Err(format!("FLAC holds at most 8 channels, got {channels}"));
    }
    let bits = format.int_bits().unwrap_or(24) as usize;
    FrameHeader::new(
        FLAC_BLOCK,
        ChannelAssignment::Independent(channels as u8),
        bits,
        sample_rate as usize,
        FrameOffset::Frame(0),
    )
    .map(|_| ())
    .map_err(|_| format!("FLAC cannot signal a sample rate of {sample_rate} Hz"))
}

/// A sink failure before the path is attached (the sinks do not know it).
enum SinkError {
    Io(io::Error),
    Unsupported(String),
    Encode(String),
}

impl SinkError {
    fn at(self, path: &Path) -> WriteError {
        let path = path.to_owned();
        match self {
            Self::Io(source) => WriteError::NotWritable { path, source },
            Self::Unsupported(reason) => WriteError::Unsupported { path, reason },
            Self::Encode(message) => WriteError::Encode { path, message },
        }
    }
}

impl From<io::Error> for SinkError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<hound::Error> for SinkError {
    fn from(e: hound::Error) -> Self {
        match e {
            hound::Error::IoError(e) => Self::Io(e),
            other => Self::Encode(other.to_string()),
        }
    }
}

/// WAV through `hound`, which writes through a buffer to the temporary file and patches
/// the RIFF sizes on `finalize`.
struct WavSink {
    writer: hound::WavWriter<BufWriter<File>>,
    /// `None` for float output.
    dither: Option<TpdfDither>,
    /// Reused quantiser output, one block long.
    scratch: Vec<i32>,
    bytes_per_sample: u64,
    data_bytes: u64,
}

impl WavSink {
    fn new(
        file: File,
        bits: Option<u32>,
        sample_rate: u32,
        channels: usize,
    ) -> Result<Self, SinkError> {
        let spec = hound::WavSpec {
            channels: channels as u16,
            sample_rate,
            bits_per_sample: bits.unwrap_or(32) as u16,
            sample_format: if bits.is_some() {
                hound::SampleFormat::Int
            } else {
                hound::SampleFormat::Float
            },
        };
        let writer = hound::WavWriter::new(BufWriter::with_capacity(1 << 16, file), spec)?;
        Ok(Self {
            writer,
            dither: bits.map(|b| TpdfDither::new(b, channels)),
            scratch: Vec::new(),
            bytes_per_sample: u64::from(bits.unwrap_or(32) / 8),
            data_bytes: 0,
        })
    }

    fn write(&mut self, block: &[f32]) -> Result<(), SinkError> {
        let adding = block.len() as u64 * self.bytes_per_sample;
        if !wav_has_room(self.data_bytes, adding) {
            return Err(SinkError::Unsupported(format!(
                "WAV cannot hold more than {WAV_DATA_LIMIT} bytes of audio; use FLAC for longer or high-rate files"
            )));
        }
        match &mut self.dither {
            None => {
                for &x in block {
                    self.writer.write_sample(x.clamp(-1.0, 1.0))?;
                }
            }
            Some(d) => {
                self.scratch.clear();
                d.quantize_extend(block, &mut self.scratch);
                if d.bits() == 16 {
                    // Dither clamped to the 16-bit range, so the cast is exact.
                    for &q in &self.scratch {
                        self.writer.write_sample(q as i16)?;
                    }
                } else {
                    for &q in &self.scratch {
                        self.writer.write_sample(q)?;
                    }
                }
            }
        }
        self.data_bytes += adding;
        Ok(())
    }

    fn finish(self) -> Result<(), SinkError> {
        // Patches the RIFF and data sizes, then flushes the buffer (reporting errors).
        self.writer.finalize()?;
        Ok(())
    }
}

/// Whether `adding` more data bytes still fit a RIFF file holding `written`.
fn wav_has_room(written: u64, adding: u64) -> bool {
    written
        .checked_add(adding)
        .is_some_and(|total| total <= WAV_DATA_LIMIT)
}

/// FLAC encoded one block at a time with `flacenc`'s frame encoder: only the pending
/// block, the encoder's frame buffer and one encoded frame are in memory.
struct FlacSink {
    out: BufWriter<File>,
    config: Verified<flacenc::config::Encoder>,
    /// What `flacenc` encodes against (its rate may be a placeholder, see [`FLACENC_MAX_RATE`]).
    encode_info: StreamInfo,
    sample_rate: u32,
    bits: u32,
    channels: usize,
    dither: TpdfDither,
    /// Quantised interleaved samples of the block being filled.
    pending: Vec<i32>,
    framebuf: FrameBuf,
    /// Counts frames and samples and keeps the running MD5 of the quantised samples.
    context: Context,
    /// Reused bit buffer for one encoded frame.
    bytes: MemSink<u8>,
    frame_bytes_min: usize,
    frame_bytes_max: usize,
}

impl FlacSink {
    fn new(file: File, bits: u32, sample_rate: u32, channels: usize) -> Result<Self, SinkError> {
        let encode_err = |e: &dyn fmt::Display| SinkError::Encode(e.to_string());
        let mut config = flacenc::config::Encoder::default();
        // flacenc 0.5.1 picks a fixed predictor on an estimate of its rice cost that
        // overflows on loud 24-bit or noise-into-silence blocks (upstream issue
        // yotarok/flacenc-rs#256): frames of gigabytes. Without fixed predictors every
        // subframe is chosen on its true size (constant, LPC or verbatim), so no frame
        // exceeds the PCM it holds. Measured cost: <0.5% larger files, 10-60% faster.
        config.subframe_coding.use_fixed = false;
        let config = config.into_verified().map_err(|(_, e)| encode_err(&e))?;
        let encode_info = StreamInfo::new(
            sample_rate.min(FLACENC_MAX_RATE) as usize,
            channels,
            bits as usize,
        )
        .map_err(|e| encode_err(&e))?;
        let framebuf = FrameBuf::with_size(channels, FLAC_BLOCK).map_err(|e| encode_err(&e))?;
        let mut sink = Self {
            out: BufWriter::with_capacity(1 << 16, file),
            config,
            encode_info,
            sample_rate,
            bits,
            channels,
            dither: TpdfDither::new(bits, channels),
            pending: Vec::with_capacity(FLAC_BLOCK * channels),
            framebuf,
            context: Context::new(bits as usize, channels),
            bytes: MemSink::new(),
            frame_bytes_min: usize::MAX,
            frame_bytes_max: 0,
        };
        // "fLaC", then STREAMINFO as the last (only) metadata block: type 0 | last-flag,
        // 24-bit length 34. Its body is a placeholder until `finish` knows length and MD5.
        sink.out.write_all(b"fLaC")?;
        sink.out.write_all(&[0x80, 0x00, 0x00, 0x22])?;
        let placeholder = sink.stream_info_bytes();
        sink.out.write_all(&placeholder)?;
        Ok(sink)
    }

    fn write(&mut self, block: &[f32]) -> Result<(), SinkError> {
        let full = FLAC_BLOCK * self.channels;
        let mut rest = block;
        while !rest.is_empty() {
            let take = (full - self.pending.len()).min(rest.len());
            let (head, tail) = rest.split_at(take);
            self.dither.quantize_extend(head, &mut self.pending);
            rest = tail;
            if self.pending.len() == full {
                self.encode_pending()?;
            }
        }
        Ok(())
    }

    fn encode_pending(&mut self) -> Result<(), SinkError> {
        let encode_err = |e: &dyn fmt::Display| SinkError::Encode(e.to_string());
        self.framebuf
            .fill_interleaved(&self.pending)
            .map_err(|e| encode_err(&e))?;
        self.context
            .fill_interleaved(&self.pending)
            .map_err(|e| encode_err(&e))?;
        let n = self.context.current_frame_number().unwrap_or(0);
        let frame =
            flacenc::encode_fixed_size_frame(&self.config, &self.framebuf, n, &self.encode_info)
                .map_err(|e| encode_err(&e))?;
        let (header, subframes) = frame.into_parts();
        let block = header.block_size();
        let assignment = header.channel_assignment().clone();
        // Rebuild the header from the true rate (see FLACENC_MAX_RATE); a fixed-block-size
        // stream numbers its frames.
        let header = FrameHeader::new(
            block,
            assignment,
            self.bits as usize,
            self.sample_rate as usize,
            FrameOffset::Frame(n as u32),
        )
        .map_err(|e| encode_err(&e))?;
        let frame = Frame::new(header, subframes.into_iter()).map_err(|e| encode_err(&e))?;
        self.bytes.clear();
        frame.write(&mut self.bytes).map_err(|e| encode_err(&e))?;
        let encoded = self.bytes.as_slice();
        self.out.write_all(encoded)?;
        self.frame_bytes_min = self.frame_bytes_min.min(encoded.len());
        self.frame_bytes_max = self.frame_bytes_max.max(encoded.len());
        self.pending.clear();
        Ok(())
    }

    /// The 34-byte STREAMINFO body for what has been encoded so far.
    fn stream_info_bytes(&self) -> [u8; 34] {
        let mut b = [0u8; 34];
        // Fixed block size: min = max = FLAC_BLOCK, even though the last block is usually
        // shorter (the spec allows that, and the reference encoder does the same). With the
        // true minimum, symphonia 0.6 reads the stream as variable-block and fails to open it.
        let block = (FLAC_BLOCK as u16).to_be_bytes();
        b[0..2].copy_from_slice(&block);
        b[2..4].copy_from_slice(&block);
        // Frame sizes: 0 means unknown (no frames yet).
        let (fmin, fmax) = if self.frame_bytes_max == 0 {
            (0, 0)
        } else {
            (self.frame_bytes_min, self.frame_bytes_max)
        };
        b[4..7].copy_from_slice(&(fmin as u32).to_be_bytes()[1..]);
        b[7..10].copy_from_slice(&(fmax as u32).to_be_bytes()[1..]);
        // 20-bit rate, 3-bit channels-1, 5-bit bits-1, 36-bit total (0 = unknown if it overflows).
        let total = self.context.total_samples() as u64;
        let total = if total >> 36 == 0 { total } else { 0 };
        let packed = (u64::from(self.sample_rate) << 44)
            | ((self.channels as u64 - 1) << 41)
            | ((u64::from(self.bits) - 1) << 36)
            | total;
        b[10..18].copy_from_slice(&packed.to_be_bytes());
        b[18..34].copy_from_slice(&self.context.md5_digest());
        b
    }

    fn finish(mut self) -> Result<(), SinkError> {
        if !self.pending.is_empty() {
            self.encode_pending()?;
        }
        let info = self.stream_info_bytes();
        self.out.seek(SeekFrom::Start(STREAMINFO_OFFSET))?;
        self.out.write_all(&info)?;
        self.out.flush()?;
        Ok(())
    }
}

/// Refuses `path` when it resolves to one of `protected` (the inputs); see [`AudioWriter::create`].
pub fn check_target(path: &Path, protected: &[PathBuf]) -> Result<(), WriteError> {
    let target = resolve(path);
    if protected.iter().any(|p| resolve(p) == target) {
        return Err(WriteError::SameAsInput {
            path: path.to_owned(),
        });
    }
    Ok(())
}

/// Writes a small file (a session, a report) atomically: a temporary file beside `path`,
/// synced, then renamed over it. Refuses to replace one of `protected`.
pub fn write_bytes_atomic(
    path: &Path,
    bytes: &[u8],
    protected: &[PathBuf],
) -> Result<(), WriteError> {
    use std::io::Write as _;
    check_target(path, protected)?;
    let not_writable = |source: io::Error| WriteError::NotWritable {
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".mixwright.").suffix(".part");
    let temp = LiveTemp::create(&builder, dir).map_err(not_writable)?;
    temp.as_file().write_all(bytes).map_err(not_writable)?;
    temp.as_file().sync_all().map_err(not_writable)?;
    temp.persist(path).map_err(not_writable)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::testsig::Pcg32;
    use symphonia::core::codecs::audio::AudioDecoderOptions;
    use symphonia::core::formats::probe::Hint;
    use symphonia::core::formats::{FormatOptions, TrackType};
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;

    /// Music-like test signal: a sine per channel plus noise, with a few overs past ±1.
    fn signal(frames: usize, channels: usize, seed: u64) -> Vec<f32> {
        let mut g = Pcg32(seed);
        let mut x = Vec::with_capacity(frames * channels);
        for i in 0..frames {
            for c in 0..channels {
                let ph = i as f32 * 0.01 * (c + 1) as f32;
                x.push(0.6 * ph.sin() + 0.2 * g.signed() as f32);
            }
        }
        for k in (0..x.len()).step_by(997) {
            x[k] *= 2.5; // overs: must be clamped
        }
        x
    }

    struct Decoded {
        rate: u32,
        channels: usize,
        samples: Vec<f32>,
        md5_ok: Option<bool>,
    }

    fn decode(path: &Path) -> Decoded {
        let mss = MediaSourceStream::new(Box::new(File::open(path).unwrap()), Default::default());
        let mut format = symphonia::default::get_probe()
            .probe(
                &Hint::new(),
                mss,
                FormatOptions::default(),
                MetadataOptions::default(),
            )
            .unwrap();
        let track = format.default_track(TrackType::Audio).unwrap();
        let params = track
            .codec_params
            .as_ref()
            .unwrap()
            .audio()
            .unwrap()
            .clone();
        let id = track.id;
        let opts = AudioDecoderOptions::default().verify(true);
        let mut decoder = symphonia::default::get_codecs()
            .make_audio_decoder(&params, &opts)
            .unwrap();
        let mut samples = Vec::new();
        let mut buf: Vec<f32> = Vec::new();
        while let Some(packet) = format.next_packet().unwrap() {
            if packet.track_id != id {
                continue;
            }
            let audio = decoder.decode(&packet).unwrap();
            buf.resize(audio.samples_interleaved(), 0.0);
            audio.copy_to_slice_interleaved(&mut buf);
            samples.extend_from_slice(&buf);
        }
        Decoded {
            rate: params.sample_rate.unwrap(),
            channels: params.channels.unwrap().count(),
            samples,
            md5_ok: decoder.finalize().verify_ok,
        }
    }

    /// Writes `x` in irregular blocks (whole frames), as a renderer would.
    fn write_file(
        path: &Path,
        format: OutputFormat,
        rate: u32,
        channels: usize,
        x: &[f32],
    ) -> PathBuf {
        let mut w = AudioWriter::create(path, format, rate, channels, &[]).unwrap();
        let mut rest = x;
        for frames in [1usize, 4095, 4097, 100, 9000].iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (head, tail) = rest.split_at((frames * channels).min(rest.len()));
            w.write(head).unwrap();
            rest = tail;
        }
        assert_eq!(w.frames_written(), (x.len() / channels) as u64);
        w.finish().unwrap()
    }

    fn round_trip(format: OutputFormat, rate: u32, channels: usize, frames: usize) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!(
            "out.{}",
            if format.is_flac() { "flac" } else { "wav" }
        ));
        let x = signal(frames, channels, 42 + channels as u64);
        write_file(&path, format, rate, channels, &x);
        let d = decode(&path);
        assert_eq!((d.rate, d.channels), (rate, channels), "{format}");
        assert_eq!(d.samples.len(), x.len(), "{format}: sample count");
        match format.int_bits() {
            None => {
                for (&y, &v) in d.samples.iter().zip(&x) {
                    assert_eq!(
                        y,
                        v.clamp(-1.0, 1.0),
                        "{format}: float must be exact after clamping"
                    );
                }
            }
            Some(bits) => {
                let scale = f64::from(1u32 << (bits - 1));
                // Exactly the dithered integers, in order (proves channel order and no drift) ...
                let mut expected = Vec::new();
                TpdfDither::new(bits, channels).quantize_extend(&x, &mut expected);
                for (i, (&y, &q)) in d.samples.iter().zip(&expected).enumerate() {
                    assert_eq!(f64::from(y) * scale, f64::from(q), "{format}: sample {i}");
                }
                // ... and within the dither's reach of the clamped input: ±1 LSB TPDF + ½ LSB rounding.
                let worst = d
                    .samples
                    .iter()
                    .zip(&x)
                    .map(|(&y, &v)| (f64::from(y) - f64::from(v.clamp(-1.0, 1.0))).abs() * scale)
                    .fold(0.0, f64::max);
                assert!(worst <= 1.5 + 1e-9, "{format}: worst error {worst} LSB");
                assert!(
                    worst > 0.5,
                    "{format}: no dither seen (worst error {worst} LSB)"
                );
            }
        }
        if format.is_flac() {
            assert_eq!(
                d.md5_ok,
                Some(true),
                "{format}: STREAMINFO MD5 must match the audio"
            );
            // Never (much) larger than the PCM it holds (see `use_fixed` in FlacSink::new).
            let pcm = (x.len() * format.int_bits().unwrap() as usize / 8) as u64;
            let size = fs::metadata(&path).unwrap().len();
            assert!(
                size <= pcm + pcm / 50 + 4096,
                "{format}: {size} bytes for {pcm} bytes of PCM"
            );
        }
    }

    #[test]
    fn round_trip_every_format_through_symphonia() {
        for format in OutputFormat::ALL {
            round_trip(format, 48_000, 2, 48_000 + 123);
        }
    }

    #[test]
    fn round_trip_other_layouts_and_rates() {
        round_trip(OutputFormat::Flac16, 44_100, 1, 20_000);
        round_trip(OutputFormat::Flac24, 192_000, 2, 10_000); // above flacenc's own 96 kHz limit
        round_trip(OutputFormat::Flac24, 22_050, 6, 9_000);
        round_trip(OutputFormat::Wav24, 96_000, 6, 5_000);
        round_trip(OutputFormat::Wav16, 8_000, 1, 777);
        // Shorter than one FLAC block, and shorter than FLAC's 16-frame minimum block.
        round_trip(OutputFormat::Flac24, 48_000, 2, 1000);
        round_trip(OutputFormat::Flac16, 48_000, 2, 10);
    }

    #[test]
    fn flac_stays_bounded_on_signals_that_inflate_flacenc() {
        // Loud white noise and the upstream report's block of full-scale noise followed by
        // silence: with fixed predictors on, the latter wrote 18.5 GB for 74 kB of PCM.
        let mut g = Pcg32(99);
        let noise: Vec<f32> = (0..3 * 4096 * 2).map(|_| g.signed() as f32).collect();
        let mut noise_then_silence = noise.clone();
        for f in noise_then_silence.chunks_exact_mut(2 * 4096) {
            f[2 * 2944..].fill(0.0);
        }
        for format in [OutputFormat::Flac16, OutputFormat::Flac24] {
            for (name, x) in [
                ("noise", &noise),
                ("noise then silence", &noise_then_silence),
            ] {
                let dir = tempfile::tempdir().unwrap();
                let path = write_file(&dir.path().join("n.flac"), format, 48_000, 2, x);
                let pcm = (x.len() * format.int_bits().unwrap() as usize / 8) as u64;
                let size = fs::metadata(&path).unwrap().len();
                assert!(
                    size <= pcm + pcm / 50 + 4096,
                    "{format} {name}: {size} bytes for {pcm} bytes of PCM"
                );
                let d = decode(&path);
                assert_eq!(d.samples.len(), x.len(), "{format} {name}");
                assert_eq!(d.md5_ok, Some(true), "{format} {name}");
            }
        }
    }

    /// STREAMINFO fields of a FLAC file: block sizes, frame sizes, rate, channels, bits, total.
    fn stream_info(path: &Path) -> [u64; 8] {
        let b = fs::read(path).unwrap();
        assert_eq!(
            &b[..8],
            b"fLaC\x80\x00\x00\x22",
            "one STREAMINFO block, marked last"
        );
        let be = |r: std::ops::Range<usize>| b[r].iter().fold(0u64, |a, &x| a << 8 | u64::from(x));
        let packed = be(18..26);
        [
            be(8..10),
            be(10..12),
            be(12..15),
            be(15..18),
            packed >> 44,
            (packed >> 41 & 7) + 1,
            (packed >> 36 & 31) + 1,
            packed & ((1 << 36) - 1),
        ]
    }

    #[test]
    fn flac_stream_info_describes_the_stream() {
        let dir = tempfile::tempdir().unwrap();
        let x = signal(10_000, 2, 4);
        let path = write_file(
            &dir.path().join("s.flac"),
            OutputFormat::Flac16,
            32_000,
            2,
            &x,
        );
        let [bmin, bmax, fmin, fmax, rate, ch, bits, total] = stream_info(&path);
        assert_eq!(
            (bmin, bmax),
            (4096, 4096),
            "fixed block size, though the last block is short"
        );
        assert!(
            0 < fmin && fmin <= fmax && fmax < 4096 * 2 * 17 / 8 + 64,
            "frame sizes {fmin}..{fmax}"
        );
        assert_eq!((rate, ch, bits, total), (32_000, 2, 16, 10_000));
    }

    #[test]
    fn an_empty_file_is_still_a_valid_file() {
        for format in OutputFormat::ALL {
            let dir = tempfile::tempdir().unwrap();
            let path = write_file(&dir.path().join("empty"), format, 44_100, 2, &[]);
            if format.is_flac() {
                // Spec-valid (ffmpeg reads it), but symphonia 0.6 cannot open a FLAC file
                // without frames, so check the header directly.
                let [bmin, bmax, fmin, fmax, rate, ch, bits, total] = stream_info(&path);
                assert_eq!(
                    [bmin, bmax, fmin, fmax, rate, ch, total],
                    [4096, 4096, 0, 0, 44_100, 2, 0]
                );
                assert_eq!(bits, u64::from(format.int_bits().unwrap()));
                assert_eq!(fs::metadata(&path).unwrap().len(), 42);
            } else {
                let d = decode(&path);
                assert_eq!(
                    (d.rate, d.channels, d.samples.len()),
                    (44_100, 2, 0),
                    "{format}"
                );
            }
        }
    }

    #[test]
    fn the_writer_can_move_to_a_worker_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<AudioWriter>();
    }

    #[test]
    fn parse_and_extension() {
        for f in OutputFormat::ALL {
            assert_eq!(OutputFormat::parse(f.name()).unwrap(), f);
        }
        assert_eq!(OutputFormat::parse("FLAC24").unwrap(), OutputFormat::Flac24);
        let err = OutputFormat::parse("mp3").unwrap_err();
        assert!(matches!(&err, WriteError::BadFormat(s) if s == "mp3"));
        assert!(err.to_string().contains("wav24"), "{err}");
        assert_eq!(
            OutputFormat::from_extension(Path::new("a/mix.WAV")),
            Some(OutputFormat::Wav24)
        );
        assert_eq!(
            OutputFormat::from_extension(Path::new("mix.flac")),
            Some(OutputFormat::Flac24)
        );
        assert_eq!(OutputFormat::from_extension(Path::new("mix.mp3")), None);
        assert_eq!(OutputFormat::from_extension(Path::new("mix")), None);
    }

    fn dir_entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn nothing_appears_before_finish_and_drop_leaves_nothing() {
        for format in OutputFormat::ALL {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("mix.out");
            let x = signal(10_000, 2, 1);

            let mut w = AudioWriter::create(&path, format, 48_000, 2, &[]).unwrap();
            w.write(&x).unwrap();
            assert!(!path.exists(), "{format}: target exists before finish");
            let names = dir_entries(dir.path());
            assert_eq!(names.len(), 1, "{format}: {names:?}");
            assert!(
                names[0].starts_with(".mix.out.") && names[0].ends_with(".part"),
                "{names:?}"
            );
            drop(w);
            assert!(
                dir_entries(dir.path()).is_empty(),
                "{format}: dropped writer left files"
            );

            // Finishing leaves exactly the target, no temporary.
            let mut w = AudioWriter::create(&path, format, 48_000, 2, &[]).unwrap();
            w.write(&x).unwrap();
            assert_eq!(w.finish().unwrap(), path);
            assert_eq!(dir_entries(dir.path()), vec!["mix.out".to_string()]);
        }
    }

    #[test]
    fn an_abandoned_rewrite_keeps_the_previous_file_intact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mix.flac");
        fs::write(&path, b"previous mix").unwrap();
        let mut w = AudioWriter::create(&path, OutputFormat::Flac24, 48_000, 2, &[]).unwrap();
        w.write(&signal(5000, 2, 2)).unwrap();
        assert!(matches!(
            w.write(&[0.0, f32::NAN]),
            Err(WriteError::NonFinite { .. })
        ));
        drop(w); // the caller gives up after the error
        assert_eq!(fs::read(&path).unwrap(), b"previous mix");
        assert_eq!(dir_entries(dir.path()), vec!["mix.flac".to_string()]);
    }

    #[cfg(unix)]
    #[test]
    fn refuses_to_overwrite_an_input_however_it_is_spelled() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        fs::create_dir(root.join("sub")).unwrap();
        let input = root.join("vocal.wav");
        fs::write(&input, b"precious").unwrap();
        std::os::unix::fs::symlink(&input, root.join("link.wav")).unwrap();
        std::os::unix::fs::symlink(&root, root.join("alias")).unwrap();

        // The same file relative to the current directory: "../../<root>/vocal.wav".
        let cwd = fs::canonicalize(std::env::current_dir().unwrap()).unwrap();
        let mut relative = PathBuf::new();
        for _ in cwd.components().skip(1) {
            relative.push("..");
        }
        relative.push(input.strip_prefix("/").unwrap());

        let spellings = [
            input.clone(),
            root.join("sub/../vocal.wav"),
            root.join("./vocal.wav"),
            relative.clone(),
            root.join("link.wav"),
            root.join("alias/vocal.wav"),
        ];
        for target in &spellings {
            for format in [OutputFormat::Wav24, OutputFormat::Flac24] {
                let err =
                    AudioWriter::create(target, format, 48_000, 2, std::slice::from_ref(&input))
                        .err()
                        .unwrap();
                assert!(
                    matches!(&err, WriteError::SameAsInput { path } if path == target),
                    "{target:?}: {err}"
                );
                assert!(
                    err.to_string().contains(&*target.to_string_lossy()),
                    "{err}"
                );
            }
        }
        // And the protected list may itself use an odd spelling.
        let err = AudioWriter::create(&input, OutputFormat::Wav16, 48_000, 2, &[relative])
            .err()
            .unwrap();
        assert!(matches!(err, WriteError::SameAsInput { .. }));
        // A not-yet-existing protected path is matched too.
        let future = root.join("sub/../new.wav");
        let err = AudioWriter::create(
            &root.join("new.wav"),
            OutputFormat::Wav16,
            48_000,
            2,
            &[future],
        )
        .err()
        .unwrap();
        assert!(matches!(err, WriteError::SameAsInput { .. }));

        assert_eq!(fs::read(&input).unwrap(), b"precious");
        let mut names = dir_entries(&root);
        names.retain(|n| n.starts_with('.'));
        assert!(names.is_empty(), "refusal created {names:?}");
        // A sibling is fine.
        assert!(
            AudioWriter::create(
                &root.join("mix.wav"),
                OutputFormat::Wav24,
                48_000,
                2,
                &[input]
            )
            .is_ok()
        );
    }

    #[cfg(unix)]
    #[test]
    fn unwritable_targets_are_reported_with_their_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no/such/folder/mix.wav");
        let err = AudioWriter::create(&missing, OutputFormat::Wav24, 48_000, 2, &[])
            .err()
            .unwrap();
        match &err {
            WriteError::NotWritable { path, source } => {
                assert_eq!(path, &missing);
                assert_eq!(source.kind(), io::ErrorKind::NotFound);
            }
            other => panic!("expected NotWritable, got {other}"),
        }
        assert!(
            err.to_string().contains(&*missing.to_string_lossy()),
            "{err}"
        );

        // A folder where the file should go.
        let err = AudioWriter::create(dir.path(), OutputFormat::Flac24, 48_000, 2, &[])
            .err()
            .unwrap();
        assert!(
            matches!(&err, WriteError::NotWritable { source, .. } if source.kind() == io::ErrorKind::IsADirectory),
            "{err}"
        );

        // Permission denied: a read-only folder, or for root (who may write anywhere) sysfs,
        // where nobody may create files.
        use std::os::unix::fs::PermissionsExt;
        let locked = dir.path().join("locked");
        fs::create_dir(&locked).unwrap();
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o555)).unwrap();
        let denied = if File::create(locked.join("probe")).is_err() {
            Some(locked.clone())
        } else if cfg!(target_os = "linux") {
            Some(PathBuf::from("/sys"))
        } else {
            None
        };
        if let Some(folder) = denied {
            let target = folder.join("mix.flac");
            let err = AudioWriter::create(&target, OutputFormat::Flac24, 48_000, 2, &[])
                .err()
                .unwrap();
            assert!(
                matches!(&err, WriteError::NotWritable { path, source } if path == &target && source.kind() == io::ErrorKind::PermissionDenied),
                "{err}"
            );
            assert!(
                err.to_string().contains(&*target.to_string_lossy()),
                "{err}"
            );
        }
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn streams_the_format_cannot_hold_are_refused_up_front() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.flac");
        for (format, rate, ch) in [
            (OutputFormat::Flac24, 48_000, 9),
            (OutputFormat::Flac16, 1_000_001, 2),
            (OutputFormat::Wav24, 0, 2),
            (OutputFormat::Wav24, 48_000, 0),
        ] {
            let err = AudioWriter::create(&p, format, rate, ch, &[])
                .err()
                .unwrap();
            assert!(
                matches!(err, WriteError::Unsupported { .. }),
                "{format} {rate} {ch}: {err}"
            );
        }
        assert!(dir_entries(dir.path()).is_empty());
        // WAV's 32-bit size field.
        assert!(wav_has_room(0, WAV_DATA_LIMIT));
        assert!(!wav_has_room(WAV_DATA_LIMIT - 10, 11));
        assert!(!wav_has_room(u64::MAX, 1));
    }

    #[test]
    fn non_finite_samples_are_rejected_and_never_written() {
        for format in OutputFormat::ALL {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("m");
            let good = signal(3000, 2, 9);
            let mut w = AudioWriter::create(&path, format, 48_000, 2, &[]).unwrap();
            w.write(&good).unwrap();
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                let mut block = vec![0.1f32; 200];
                block[2 * 57 + 1] = bad;
                match w.write(&block) {
                    Err(WriteError::NonFinite { path: p, frame }) => {
                        assert_eq!(p, path);
                        assert_eq!(frame, 3000 + 57);
                    }
                    other => panic!("{format}: expected NonFinite, got {other:?}"),
                }
            }
            assert!(matches!(
                w.write(&[0.0; 3]),
                Err(WriteError::PartialFrame {
                    samples: 3,
                    channels: 2,
                    ..
                })
            ));
            w.write(&good).unwrap(); // still usable
            w.finish().unwrap();
            let d = decode(&path);
            assert_eq!(
                d.samples.len(),
                2 * good.len(),
                "{format}: rejected blocks must not be written"
            );
            assert!(d.samples.iter().all(|s| s.is_finite()));
        }
    }

    #[test]
    fn identical_bytes_from_identical_input_whatever_the_blocking() {
        let x = signal(50_000, 2, 5);
        for format in OutputFormat::ALL {
            let dir = tempfile::tempdir().unwrap();
            let a = write_file(&dir.path().join("a"), format, 44_100, 2, &x);
            let b = write_file(&dir.path().join("b"), format, 44_100, 2, &x);
            // One single block instead of irregular ones.
            let c = dir.path().join("c");
            let mut w = AudioWriter::create(&c, format, 44_100, 2, &[]).unwrap();
            w.write(&x).unwrap();
            w.finish().unwrap();
            let bytes = fs::read(&a).unwrap();
            assert_eq!(bytes, fs::read(&b).unwrap(), "{format}: two runs differ");
            assert_eq!(
                bytes,
                fs::read(&c).unwrap(),
                "{format}: blocking changed the bytes"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn output_permissions_follow_the_umask_not_tempfiles_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let reference = dir.path().join("ref");
        File::create(&reference).unwrap();
        let path = write_file(
            &dir.path().join("mix.wav"),
            OutputFormat::Wav16,
            48_000,
            1,
            &[0.0; 10],
        );
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), mode(&reference));
    }

    /// Writes ten minutes of 48 kHz stereo in 4096-frame blocks and watches the heap.
    fn memory_does_not_grow_with_length(format: OutputFormat) {
        const RATE: usize = 48_000;
        const BLOCK: usize = 4096;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("long");
        // One second of programme, replayed: cheap to produce in an unoptimised test build.
        let source = signal(RATE, 2, 77);
        let mut block = vec![0f32; 2 * BLOCK];
        let mut live_each_minute = Vec::with_capacity(10);

        let before = crate::test_heap::live();
        crate::test_heap::reset_peak();
        let mut w = AudioWriter::create(&path, format, RATE as u32, 2, &[]).unwrap();
        let mut frames = 0;
        while frames < 600 * RATE {
            for (i, s) in block.iter_mut().enumerate() {
                *s = source[(2 * frames + i) % source.len()];
            }
            w.write(&block).unwrap();
            frames += BLOCK;
            if frames % (60 * RATE) < BLOCK {
                live_each_minute.push(crate::test_heap::live() - before);
            }
        }
        let peak = crate::test_heap::peak() - before;
        w.finish().unwrap();

        // One minute of 24-bit stereo is 11.5 MB of samples: the writer holds a small fixed
        // amount whatever the length, and never spikes past it.
        let first = live_each_minute[0];
        assert!(
            live_each_minute
                .iter()
                .all(|&l| (l - first).abs() < 4 << 10),
            "{format}: live heap per minute {live_each_minute:?}"
        );
        assert!(peak < 2 << 20, "{format}: peak heap {peak} bytes");

        let mss = MediaSourceStream::new(Box::new(File::open(&path).unwrap()), Default::default());
        let reader = symphonia::default::get_probe()
            .probe(
                &Hint::new(),
                mss,
                FormatOptions::default(),
                MetadataOptions::default(),
            )
            .unwrap();
        let track = reader.default_track(TrackType::Audio).unwrap();
        assert_eq!(
            track.num_frames,
            Some(frames as u64),
            "{format}: header length"
        );
    }

    #[test]
    fn memory_does_not_grow_with_length_flac24() {
        memory_does_not_grow_with_length(OutputFormat::Flac24);
    }

    #[test]
    fn memory_does_not_grow_with_length_wav24() {
        memory_does_not_grow_with_length(OutputFormat::Wav24);
    }
}
