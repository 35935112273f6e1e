//! Getting audio in and out: discover stems, decode them (symphonia), resample them to the
//! session rate (rubato) into on-disk spools, and write outputs safely.

pub mod decode;
pub mod discover;
pub mod interrupt;
pub mod resample;
pub mod spool;
pub mod write;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::Error;
use decode::{StemInfo, StemReader};
use resample::StreamResampler;
use spool::{Spool, SpoolWriter};

/// A stem decoded and resampled to the session rate, parked in a [`Spool`].
#[derive(Debug)]
pub struct ImportedStem {
    /// What the file is (its own rate, channels, codec).
    pub info: StemInfo,
    /// The audio at the session rate.
    pub spool: Spool,
}

/// Opens each stem just far enough to read its format.
pub fn probe(paths: &[PathBuf]) -> Result<Vec<StemInfo>, Error> {
    paths
        .iter()
        .map(|p| Ok(StemReader::open(p)?.info().clone()))
        .collect()
}

/// The session rate: `forced`, or the most common input rate (the higher one on a tie),
/// so that as few stems as possible are resampled.
pub fn choose_rate(infos: &[StemInfo], forced: Option<u32>) -> u32 {
    if let Some(rate) = forced {
        return rate;
    }
    let mut count: BTreeMap<u32, usize> = BTreeMap::new();
    for i in infos {
        *count.entry(i.sample_rate).or_default() += 1;
    }
    count
        .into_iter()
        .max_by_key(|&(rate, n)| (n, rate))
        .map_or(48_000, |(rate, _)| rate)
}

/// Decodes `path` and resamples it to `rate`, streaming packet by packet into a spool.
pub fn import_stem(path: &Path, rate: u32) -> Result<ImportedStem, Error> {
    let mut reader = StemReader::open(path)?;
    let info = reader.info().clone();
    let mut spool = SpoolWriter::new(info.channels).map_err(Error::Spool)?;
    let mut resampler = if info.sample_rate != rate {
        Some(StreamResampler::new(info.sample_rate, rate, info.channels)?)
    } else {
        None
    };
    let mut block = Vec::new();
    let mut resampled = Vec::new();
    while reader.next_block(&mut block)? {
        let out = match resampler.as_mut() {
            Some(r) => {
                resampled.clear();
                r.push(&block, &mut resampled)?;
                &resampled
            }
            None => &block,
        };
        spool.write(out).map_err(Error::Spool)?;
    }
    if let Some(r) = resampler.as_mut() {
        resampled.clear();
        r.finish(&mut resampled)?;
        spool.write(&resampled).map_err(Error::Spool)?;
    }
    let spool = spool.finish().map_err(Error::Spool)?;
    Ok(ImportedStem { info, spool })
}

/// A track name from a file name: the stem without extension, made unique among `taken`
/// by appending the extension and then a number.
pub fn track_name(path: &Path, taken: &[String]) -> String {
    let stem = path
        .file_stem()
        .map_or_else(|| "track".to_string(), |s| s.to_string_lossy().into_owned());
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut name = stem.clone();
    if taken.contains(&name) && !ext.is_empty() {
        name = format!("{stem}-{ext}");
    }
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{stem}-{n}");
        n += 1;
    }
    name
}
