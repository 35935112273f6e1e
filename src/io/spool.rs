//! Decoded audio parked on disk so memory does not grow with song length.
//!
//! Every stem is decoded once into a spool: interleaved little-endian f32 frames in an
//! anonymous temporary file (unlinked at creation, so nothing is left behind even when
//! the process is killed). Later stages read it back in blocks at any position; the OS
//! page cache keeps short sessions effectively in memory.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;

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
        let want = (out.len() / self.channels) as u64;
        let avail = self.frames.saturating_sub(start).min(want) as usize;
        let n = avail * self.channels;
        if n > 0 {
            let mut bytes = vec![0u8; n * 4];
            self.file
                .read_exact_at(&mut bytes, start * self.channels as u64 * 4)?;
            for (o, b) in out[..n].iter_mut().zip(bytes.chunks_exact(4)) {
                *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        out[n..].fill(0.0);
        Ok(())
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
}
