//! Decoded audio parked on disk so memory does not grow with song length.
//!
//! Every stem is decoded once into a spool: interleaved little-endian f32 frames in an
//! anonymous temporary file (unlinked at creation, so nothing is left behind even when
//! the process is killed). Later stages read it back in blocks at any position; the OS
//! page cache keeps short sessions effectively in memory.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Interleaved f32 audio stored in an anonymous temporary file.
#[derive(Debug)]
pub struct Spool {
    file: File,
    channels: usize,
    frames: u64,
}

/// Appends frames to a new [`Spool`]; call [`SpoolWriter::finish`] to read it.
pub struct SpoolWriter {
    out: BufWriter<File>,
    channels: usize,
    samples: u64,
}

impl SpoolWriter {
    /// Starts an empty spool of `channels` interleaved channels in the system temp folder.
    pub fn new(channels: usize) -> io::Result<Self> {
        Ok(Self {
            out: BufWriter::with_capacity(1 << 16, tempfile::tempfile()?),
            channels,
            samples: 0,
        })
    }

    /// Appends interleaved frames (a length that is a multiple of the channel count).
    pub fn write(&mut self, interleaved: &[f32]) -> io::Result<()> {
        debug_assert_eq!(interleaved.len() % self.channels, 0);
        for s in interleaved {
            self.out.write_all(&s.to_le_bytes())?;
        }
        self.samples += interleaved.len() as u64;
        Ok(())
    }

    /// Appends f64 values bit for bit, 8 little-endian bytes each: two of the spool's 32-bit
    /// words, so a spool of f64 frames of `k` values is made with `SpoolWriter::new(2 * k)`
    /// and read back with [`Spool::read_f64`]. For stores whose readers must get back exactly
    /// what was computed (a model's f64 intermediates), where f32 would change the results.
    pub fn write_f64(&mut self, values: &[f64]) -> io::Result<()> {
        debug_assert_eq!((2 * values.len()) % self.channels, 0);
        for v in values {
            self.out.write_all(&v.to_le_bytes())?;
        }
        self.samples += 2 * values.len() as u64;
        Ok(())
    }

    /// Flushes and returns the readable spool.
    pub fn finish(self) -> io::Result<Spool> {
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        Ok(Spool {
            file,
            channels: self.channels,
            frames: self.samples / self.channels as u64,
        })
    }
}

impl Spool {
    /// Interleaved channel count.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Number of frames stored.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Fills `out` (interleaved, a whole number of frames) with the frames starting at
    /// `start`; frames past the end read as silence, so stems of different lengths line up.
    pub fn read(&self, start: u64, out: &mut [f32]) -> io::Result<()> {
        let (bytes, n) = self.read_bytes(start, self.channels, 4, out.len())?;
        for (o, b) in out[..n].iter_mut().zip(bytes.chunks_exact(4)) {
            *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        out[n..].fill(0.0);
        Ok(())
    }

    /// [`Spool::read`] for a spool written with [`SpoolWriter::write_f64`]: fills `out` (a
    /// whole number of frames of `channels / 2` values) with the values of the frames from
    /// `start`, bit for bit; frames past the end read as zeros.
    pub fn read_f64(&self, start: u64, out: &mut [f64]) -> io::Result<()> {
        let per_frame = (self.channels / 2).max(1);
        let (bytes, n) = self.read_bytes(start, per_frame, 8, out.len())?;
        for (o, b) in out[..n].iter_mut().zip(bytes.chunks_exact(8)) {
            *o = f64::from_le_bytes(b.try_into().expect("8-byte chunks"));
        }
        out[n..].fill(0.0);
        Ok(())
    }

    /// The stored bytes of up to `len` values of `width` bytes (`per_frame` values a frame)
    /// from frame `start`, and how many values they hold (fewer near the end).
    fn read_bytes(
        &self,
        start: u64,
        per_frame: usize,
        width: usize,
        len: usize,
    ) -> io::Result<(Vec<u8>, usize)> {
        let avail = self
            .frames
            .saturating_sub(start)
            .min((len / per_frame) as u64) as usize;
        let n = avail * per_frame;
        let mut bytes = vec![0u8; n * width];
        if n > 0 {
            self.file
                .read_exact_at(&mut bytes, start * self.channels as u64 * 4)?;
        }
        Ok((bytes, n))
    }

    /// Iterates over the whole spool in blocks of at most `block_frames` frames.
    pub fn blocks(&self, block_frames: usize) -> SpoolBlocks<'_> {
        SpoolBlocks {
            spool: self,
            pos: 0,
            buf: vec![0.0; block_frames * self.channels],
        }
    }
}

/// Block iterator over a [`Spool`]; see [`Spool::blocks`].
pub struct SpoolBlocks<'a> {
    spool: &'a Spool,
    pos: u64,
    buf: Vec<f32>,
}

impl SpoolBlocks<'_> {
    /// The next block (shorter at the end), or `None` when done.
    pub fn next_block(&mut self) -> io::Result<Option<&[f32]>> {
        let ch = self.spool.channels;
        let left = self.spool.frames - self.pos;
        if left == 0 {
            return Ok(None);
        }
        let n = (self.buf.len() / ch).min(left as usize);
        self.spool.read(self.pos, &mut self.buf[..n * ch])?;
        self.pos += n as u64;
        Ok(Some(&self.buf[..n * ch]))
    }
}

/// A feature curve (one f32 per analysis hop: onset flux, loudness every 100 ms) parked on
/// disk in a one-channel [`Spool`], so that what a track keeps after its analysis does not
/// grow with the song. Readers stream it with [`Curve::blocks`] or, where they need the
/// whole curve at once (percentiles, autocorrelation), load it for one track at a time with
/// [`Curve::to_vec`]. A missing value (`None`: silence under the meter's floor) is stored
/// as NaN. Clones share the store.
///
/// Serialised as a list of numbers, `null` where a value is missing.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(into = "Vec<Option<f32>>", try_from = "Vec<Option<f32>>")]
pub struct Curve {
    /// `None` for an empty curve.
    store: Option<Arc<Spool>>,
}

/// Appends values to a new [`Curve`]. The first write error is kept and returned by
/// [`CurveWriter::finish`], so meters can push without handling errors per value.
pub struct CurveWriter(io::Result<SpoolWriter>);

impl CurveWriter {
    /// Starts an empty curve in the system temp folder.
    pub fn new() -> Self {
        CurveWriter(SpoolWriter::new(1))
    }

    /// Appends a value.
    pub fn push(&mut self, v: f32) {
        if let Ok(w) = &mut self.0
            && let Err(e) = w.write(&[v])
        {
            self.0 = Err(e);
        }
    }

    /// Appends a value that may be missing.
    pub fn push_opt(&mut self, v: Option<f32>) {
        self.push(v.unwrap_or(f32::NAN));
    }

    /// The readable curve, or the first error met while writing it.
    pub fn finish(self) -> io::Result<Curve> {
        let spool = self.0?.finish()?;
        Ok(Curve {
            store: (spool.frames() > 0).then(|| Arc::new(spool)),
        })
    }
}

impl Default for CurveWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl Curve {
    /// A curve holding `values`.
    pub fn from_values(values: &[f32]) -> io::Result<Curve> {
        let mut w = SpoolWriter::new(1)?;
        w.write(values)?;
        CurveWriter(Ok(w)).finish()
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.store.as_ref().map_or(0, |s| s.frames() as usize)
    }

    /// Whether the curve holds no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Iterates over the values in blocks of at most `block` (NaN where missing).
    pub fn blocks(&self, block: usize) -> StoreBlocks<'_> {
        StoreBlocks::of(self.store.as_deref(), block)
    }

    /// All values (NaN where missing): one track's whole curve in memory, for the readers
    /// that need it at once.
    pub fn to_vec(&self) -> io::Result<Vec<f32>> {
        let mut all = Vec::with_capacity(self.len());
        let mut blocks = self.blocks(CURVE_BLOCK);
        while let Some(b) = blocks.next_block()? {
            all.extend_from_slice(b);
        }
        Ok(all)
    }

    /// All values, `None` where missing.
    pub fn to_options(&self) -> io::Result<Vec<Option<f32>>> {
        Ok(self
            .to_vec()?
            .into_iter()
            .map(|v| (!v.is_nan()).then_some(v))
            .collect())
    }
}

/// Values per block when a [`Curve`] is read back (16 kB).
pub const CURVE_BLOCK: usize = 4096;

/// Block iterator over an on-disk store that may be empty (a [`Curve`], band frames): the
/// blocks of its spool, or none when it has no spool.
pub struct StoreBlocks<'a>(Option<SpoolBlocks<'a>>);

impl<'a> StoreBlocks<'a> {
    /// Blocks of `block_frames` frames of `store`, or no blocks when there is no store.
    pub fn of(store: Option<&'a Spool>, block_frames: usize) -> Self {
        StoreBlocks(store.map(|s| s.blocks(block_frames.max(1))))
    }

    /// The next block (shorter at the end), or `None` when done.
    pub fn next_block(&mut self) -> io::Result<Option<&[f32]>> {
        match &mut self.0 {
            Some(b) => b.next_block(),
            None => Ok(None),
        }
    }
}

/// A curve that can be read through more than once, in order: one in memory (a slice of
/// values, `None` where missing) or one on disk ([`Curve`]). For figures that need several
/// passes (percentiles) without the curve in memory.
pub trait CurveValues {
    /// Number of values.
    fn count(&self) -> usize;
    /// Hands every value to `f`, in order, `None` where missing.
    fn each(&self, f: &mut dyn FnMut(Option<f32>)) -> io::Result<()>;
}

impl CurveValues for [Option<f32>] {
    fn count(&self) -> usize {
        self.len()
    }
    fn each(&self, f: &mut dyn FnMut(Option<f32>)) -> io::Result<()> {
        self.iter().for_each(|&v| f(v));
        Ok(())
    }
}

impl CurveValues for Curve {
    fn count(&self) -> usize {
        self.len()
    }
    fn each(&self, f: &mut dyn FnMut(Option<f32>)) -> io::Result<()> {
        let mut blocks = self.blocks(CURVE_BLOCK);
        while let Some(b) = blocks.next_block()? {
            b.iter().for_each(|&v| f((!v.is_nan()).then_some(v)));
        }
        Ok(())
    }
}

impl PartialEq for Curve {
    /// The same values (read back from both stores; missing equals missing); an unreadable
    /// store equals nothing.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && matches!((self.to_options(), other.to_options()), (Ok(a), Ok(b)) if a == b)
    }
}

impl From<Curve> for Vec<Option<f32>> {
    fn from(c: Curve) -> Self {
        // serde's `into` cannot fail; an unreadable temporary file serialises as no values.
        c.to_options().unwrap_or_default()
    }
}

impl TryFrom<Vec<Option<f32>>> for Curve {
    type Error = io::Error;

    fn try_from(v: Vec<Option<f32>>) -> io::Result<Self> {
        let values: Vec<f32> = v.into_iter().map(|x| x.unwrap_or(f32::NAN)).collect();
        Curve::from_values(&values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_padding() {
        let mut w = SpoolWriter::new(2).unwrap();
        let data: Vec<f32> = (0..2000).map(|i| (i as f32 * 0.37).sin()).collect();
        w.write(&data[..1000]).unwrap();
        w.write(&data[1000..]).unwrap();
        let s = w.finish().unwrap();
        assert_eq!(s.frames(), 1000);
        let mut out = vec![1.0; 20];
        s.read(995, &mut out).unwrap();
        assert_eq!(&out[..10], &data[1990..]);
        assert!(out[10..].iter().all(|&x| x == 0.0));
        let mut total = Vec::new();
        let mut it = s.blocks(333);
        while let Some(b) = it.next_block().unwrap() {
            total.extend_from_slice(b);
        }
        assert_eq!(total, data);
    }

    #[test]
    fn f64_values_come_back_bit_for_bit() {
        // Frames of 3 values (6 words); values an f32 could not hold.
        let data: Vec<f64> = (0..30).map(|i| 1.0 / 3.0 + i as f64 * 1e-12).collect();
        let mut w = SpoolWriter::new(6).unwrap();
        w.write_f64(&data[..12]).unwrap();
        w.write_f64(&data[12..]).unwrap();
        let s = w.finish().unwrap();
        assert_eq!(s.frames(), 10);
        let mut out = vec![1.0; 9];
        s.read_f64(8, &mut out).unwrap();
        assert_eq!(&out[..6], &data[24..]);
        assert_eq!(&out[6..], &[0.0; 3], "past the end: zeros");
        s.read_f64(0, &mut out).unwrap();
        assert_eq!(&out[..], &data[..9]);
    }

    #[test]
    fn curve_round_trip_with_missing_values() {
        let mut w = CurveWriter::new();
        let values: Vec<Option<f32>> = (0..10_000)
            .map(|i| (i % 7 != 3).then_some(i as f32 * 0.5))
            .collect();
        for &v in &values {
            w.push_opt(v);
        }
        let c = w.finish().unwrap();
        assert_eq!(c.len(), values.len());
        assert_eq!(c.to_options().unwrap(), values);
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.starts_with("[0.0,0.5,1.0,null,2.0"), "{}", &json[..30]);
        let back: Curve = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
        assert!(CurveWriter::new().finish().unwrap().is_empty());
    }
}
