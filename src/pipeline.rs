//! The whole chain, as library calls: what `mixwright mix` and `mixwright render` do.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::analysis::loudness::LoudnessMeter;
use crate::analysis::relation::Relation;
use crate::analysis::spectrum::{BandFrames, Spectrum, SpectrumMeter};
use crate::analysis::{self, TrackAnalysis};
use crate::config::Config;
use crate::console::strip::RepairChain;
use crate::console::{self, master::MasterReport};
use crate::engineer::{self, TrackInput, master::Target};
use crate::error::Error;
use crate::io::spool::{Spool, SpoolWriter};
use crate::io::write::{AudioWriter, OutputFormat};
use crate::io::{self, ImportedStem, decode::StemInfo};
use crate::session::{Repair, Session};

/// Hears about long work, e.g. to draw a progress bar. Every method has a no-op default.
pub trait Progress: Sync {
    /// A stage with `total` units of work begins.
    fn stage(&self, _name: &str, _total: u64) {}
    /// `n` more units are done.
    fn advance(&self, _n: u64) {}
}

/// A [`Progress`] that reports nothing.
pub struct Quiet;
impl Progress for Quiet {}

/// Options of a mix.
#[derive(Debug, Clone)]
pub struct MixOptions {
    /// Loudness and true-peak target of the delivered mix.
    pub target: Target,
    /// Session sample rate; `None` takes the most common input rate.
    pub rate: Option<u32>,
    /// Format of the mix file.
    pub format: OutputFormat,
    /// Where to write the session file, if anywhere.
    pub session_out: Option<PathBuf>,
    /// Folder for one file per stem's contribution to the mix bus, if wanted.
    pub stems_out: Option<PathBuf>,
}

/// What a render delivered.
#[derive(Debug, Clone)]
pub struct RenderResult {
    /// The mix file written.
    pub output: PathBuf,
    /// The master's figures.
    pub master: MasterReport,
    /// Stem files written by `--stems-out`.
    pub stems_out: Vec<PathBuf>,
}

/// What a mix decided and delivered.
#[derive(Debug, Clone)]
pub struct MixResult {
    /// Every decision.
    pub session: Session,
    /// What each track measured, in track order.
    pub analyses: Vec<TrackAnalysis>,
    /// Pairs of tracks that captured the same source (polarity, delay at the session rate).
    pub relations: Vec<Relation>,
    /// Formats of the input stems, in track order.
    pub inputs: Vec<StemInfo>,
    /// The delivery.
    pub render: RenderResult,
    /// Notes for the user: skipped files, silent stems, limits hit.
    pub warnings: Vec<String>,
}

fn import_all(
    paths: &[PathBuf],
    rate: u32,
    progress: &dyn Progress,
) -> Result<Vec<ImportedStem>, Error> {
    progress.stage("decoding", paths.len() as u64);
    paths
        .par_iter()
        .map(|p| {
            let s = io::import_stem(p, rate);
            progress.advance(1);
            s
        })
        .collect()
}

/// Mixes the stems found in `inputs` (folders and files) into `output`.
pub fn mix(
    inputs: &[PathBuf],
    output: &Path,
    opts: &MixOptions,
    progress: &dyn Progress,
) -> Result<MixResult, Error> {
    let found = io::discover::discover(inputs)?;
    let mut warnings: Vec<String> = found
        .skipped
        .iter()
        // The configuration file is expected beside the stems: no note.
        .filter(|(p, _)| p.file_name() != Some(std::ffi::OsStr::new(crate::config::FILE_NAME)))
        .map(|(p, why)| format!("{}: skipped ({why})", p.display()))
        .collect();
    let sources: Vec<PathBuf> = found
        .stems
        .iter()
        .map(|p| std::fs::canonicalize(p).map_err(|e| Error::io(p, e)))
        .collect::<Result<_, _>>()?;
    let infos = io::probe(&sources)?;
    let rate = io::choose_rate(&infos, opts.rate);
    let stems = import_all(&sources, rate, progress)?;
    progress.stage("analysing", stems.len() as u64);
    let analyses: Vec<TrackAnalysis> = stems
        .par_iter()
        .map(|s| {
            let a = analysis::analyze_track(&s.spool, rate).map_err(Error::Spool);
            progress.advance(1);
            a
        })
        .collect::<Result<_, _>>()?;
    let spools: Vec<_> = stems.iter().map(|s| &s.spool).collect();
    let relations = analysis::relation::relate(&spools, rate).map_err(Error::Spool)?;
    let mut names: Vec<String> = Vec::new();
    for p in &sources {
        let name = io::track_name(p, &names);
        names.push(name);
    }
    let config = Config::find(sources.iter().filter_map(|p| p.parent()))?;
    let named: Vec<(&str, &Path)> = names
        .iter()
        .zip(&sources)
        .map(|(n, p)| (n.as_str(), p.as_path()))
        .collect();
    warnings.extend(config.unmatched(&named));
    for (name, a) in names.iter().zip(&analyses) {
        if a.loudness.active_lufs.is_none() {
            warnings.push(format!("{name}: the stem is silent"));
        }
    }
    let tracks: Vec<TrackInput<'_>> = names
        .iter()
        .zip(&sources)
        .zip(stems.iter().zip(&analyses))
        .map(|((name, source), (stem, analysis))| TrackInput {
            name: name.clone(),
            source: source.clone(),
            channels: stem.spool.channels(),
            analysis,
            configured_role: config.role(name, source),
        })
        .collect();
    let plan = engineer::plan(&tracks, &relations, rate);
    let (active_lufs, repaired): (Vec<Option<f64>>, Vec<Option<Spectrum>>) = stems
        .par_iter()
        .zip(&analyses)
        .zip(&plan.repairs)
        .map(|((s, a), r)| repaired_loudness(&s.spool, a, r, rate))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Error::Spool)?
        .into_iter()
        .unzip();
    let decisions = engineer::decide(&tracks, plan, &active_lufs, &repaired, rate, opts.target);
    warnings.extend(decisions.warnings);
    let mut session = decisions.session;
    progress.stage("listening", 1);
    let rendered = listen(&session, &spools)?;
    progress.advance(1);
    warnings.extend(engineer::check_unmasking(
        &mut session,
        &rendered,
        &relations,
    ));
    let render = deliver(
        &session,
        &spools,
        output,
        opts.format,
        opts.stems_out.as_deref(),
        &sources,
        progress,
    )?;
    // Written last: a session beside a mix says the mix is complete (`batch` resumes by it).
    if let Some(path) = &opts.session_out {
        session.save(path, &sources)?;
    }
    if let Some(w) = &render.master.warning {
        warnings.push(w.clone());
    }
    Ok(MixResult {
        session,
        analyses,
        relations,
        inputs: infos,
        render,
        warnings,
    })
}

/// Renders a saved session again: decodes its stems and plays it through the console.
/// Gives the same bytes as the `mix` that wrote the session.
pub fn render(
    session: &Session,
    output: &Path,
    format: OutputFormat,
    stems_out: Option<&Path>,
    progress: &dyn Progress,
) -> Result<RenderResult, Error> {
    let sources: Vec<PathBuf> = session.tracks.iter().map(|t| t.source.clone()).collect();
    let stems = import_all(&sources, session.sample_rate, progress)?;
    let spools: Vec<_> = stems.iter().map(|s| &s.spool).collect();
    deliver(
        session, &spools, output, format, stems_out, &sources, progress,
    )
}

/// Each strip's contribution to the mix bus as the engineer hears it: its short-time
/// third-octave frames, measured while the console plays the strips (no master, no file).
fn listen(session: &Session, spools: &[&io::spool::Spool]) -> Result<Vec<BandFrames>, Error> {
    let rate = session.sample_rate;
    let mut meters: Vec<SpectrumMeter> = session
        .tracks
        .iter()
        .map(|_| SpectrumMeter::frames_only(2, rate))
        .collect();
    // Each block's strips are measured together, one track per thread.
    let blocks = std::cell::RefCell::new(vec![Vec::new(); meters.len()]);
    console::play_strips(
        session,
        spools,
        Some(&mut |i: usize, solo: &[f32]| {
            let b = &mut blocks.borrow_mut()[i];
            b.clear();
            b.extend_from_slice(solo);
            Ok(())
        }),
        &mut |_| {
            meters
                .par_iter_mut()
                .zip(blocks.borrow().par_iter())
                .for_each(|(m, b)| m.push(b));
            Ok(())
        },
    )?;
    meters
        .into_iter()
        .map(|m| m.finish_frames().map_err(Error::Spool))
        .collect()
}

/// Console, then files: the one path shared by `mix` and `render`, so both give the same bytes.
fn deliver(
    session: &Session,
    spools: &[&io::spool::Spool],
    output: &Path,
    format: OutputFormat,
    stems_out: Option<&Path>,
    inputs: &[PathBuf],
    progress: &dyn Progress,
) -> Result<RenderResult, Error> {
    let rate = session.sample_rate;
    let mut writer = AudioWriter::create(output, format, rate, 2, inputs)?;
    let mut stem_writers = Vec::new();
    let mut stem_paths = Vec::new();
    if let Some(dir) = stems_out {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        for t in &session.tracks {
            let path = dir.join(format!("{}.wav", t.name));
            stem_writers.push(AudioWriter::create(
                &path,
                OutputFormat::Wav32Float,
                rate,
                2,
                inputs,
            )?);
            stem_paths.push(path);
        }
    }
    progress.stage("mixing", 1);
    let outs = stems_out.map(|_| stem_writers.as_mut_slice());
    let (master_audio, master) = console::render(session, spools, outs)?;
    progress.advance(1);
    let mut blocks = master_audio.blocks(8192);
    while let Some(b) = blocks.next_block().map_err(Error::Spool)? {
        writer.write(b)?;
    }
    for w in stem_writers {
        w.finish()?;
    }
    let output = writer.finish()?;
    Ok(RenderResult {
        output,
        master,
        stems_out: stem_paths,
    })
}

/// Measures files as they are (no resampling): what `mixwright analyze` prints.
pub fn analyze_files(
    paths: &[PathBuf],
    progress: &dyn Progress,
) -> Result<Vec<(StemInfo, u64, TrackAnalysis)>, Error> {
    progress.stage("analysing", paths.len() as u64);
    paths
        .par_iter()
        .map(|p| {
            let info = io::probe(std::slice::from_ref(p))?.remove(0);
            let stem = io::import_stem(p, info.sample_rate)?;
            let a = analysis::analyze_track(&stem.spool, info.sample_rate).map_err(Error::Spool)?;
            progress.advance(1);
            Ok((stem.info, stem.spool.frames(), a))
        })
        .collect()
}

/// Highest sample peak of a repaired file (−0.1 dBFS): a declipped track is lowered to it.
const REPAIR_PEAK: f32 = 0.988_553;

/// What `repair_file` found and did.
#[derive(Debug, Clone)]
pub struct RepairResult {
    /// The file written.
    pub output: PathBuf,
    /// The input's format.
    pub input: StemInfo,
    /// What the analysis found.
    pub problems: analysis::problems::Problems,
    /// The repairs applied (all off when nothing was found).
    pub repair: crate::session::Repair,
    /// A line per repair: what was found and what was done.
    pub notes: Vec<String>,
}

/// Analyses one file and writes it repaired to `output` (same rate and channels; 32-bit
/// float WAV unless `format` or a `.flac` extension says otherwise). Written atomically,
/// never over the input. The repairs are decided from what the analysis found, or taken
/// from `settings` when given (a session's `repair` section, e.g. edited by hand). Where
/// nothing is to be done the samples are copied unchanged.
pub fn repair_file(
    input: &Path,
    output: &Path,
    format: Option<OutputFormat>,
    settings: Option<&crate::session::Repair>,
    progress: &dyn Progress,
) -> Result<RepairResult, Error> {
    let source = std::fs::canonicalize(input).map_err(|e| Error::io(input, e))?;
    let info = io::probe(std::slice::from_ref(&source))?.remove(0);
    let format = format.unwrap_or(match OutputFormat::from_extension(output) {
        Some(f @ (OutputFormat::Flac16 | OutputFormat::Flac24)) => f,
        _ => OutputFormat::Wav32Float,
    });
    let rate = info.sample_rate;
    // Refuse a bad target before the work.
    let mut writer = AudioWriter::create(
        output,
        format,
        rate,
        info.channels,
        std::slice::from_ref(&source),
    )?;
    progress.stage("analysing", 1);
    let stem = io::import_stem(&source, rate)?;
    let a = analysis::analyze_track(&stem.spool, rate).map_err(Error::Spool)?;
    progress.advance(1);
    let name = io::track_name(&source, &[]);
    let role = engineer::roles::guess_from_name(&name).unwrap_or(engineer::roles::Role::Other);
    let (repair, notes) = match settings {
        Some(r) => (
            r.clone(),
            vec!["repairs as given in the settings".to_string()],
        ),
        None => engineer::repair::decide(&a.problems, a.bleed.as_ref(), role, rate),
    };
    progress.stage("repairing", 1);
    let spool = &stem.spool;
    let ch = spool.channels();
    let mut notes = notes;
    match RepairChain::new(&repair, spool, rate).map_err(Error::Spool)? {
        None => {
            let mut blocks = spool.blocks(8192);
            while let Some(b) = blocks.next_block().map_err(Error::Spool)? {
                writer.write(b)?;
            }
        }
        Some(mut chain) => {
            // Repaired audio to a spool first: rebuilt peaks may pass full scale, and the
            // file must hold them, so the level is set from the repaired peak.
            let mut repaired = SpoolWriter::new(ch).map_err(Error::Spool)?;
            let mut peak = 0.0f32;
            for_each_repaired_block(&mut chain, spool, |b| {
                peak = b.iter().fold(peak, |m, v| m.max(v.abs()));
                repaired.write(b)
            })
            .map_err(Error::Spool)?;
            let repaired = repaired.finish().map_err(Error::Spool)?;
            let gain = if peak > REPAIR_PEAK {
                REPAIR_PEAK / peak
            } else {
                1.0
            };
            if gain < 1.0 {
                notes.push(format!(
                    "level lowered by {:.2} dB to keep the rebuilt peaks under full scale",
                    -20.0 * gain.log10()
                ));
            }
            let mut blocks = repaired.blocks(8192);
            while let Some(b) = blocks.next_block().map_err(Error::Spool)? {
                if gain < 1.0 {
                    let scaled: Vec<f32> = b.iter().map(|v| v * gain).collect();
                    writer.write(&scaled)?;
                } else {
                    writer.write(b)?;
                }
            }
        }
    }
    let output = writer.finish()?;
    progress.advance(1);
    Ok(RepairResult {
        output,
        input: stem.info,
        problems: a.problems,
        repair,
        notes,
    })
}

/// Pairs of files that captured the same source: the files decoded at one rate (the most
/// common of theirs; the others resampled), then [`analysis::relation::relate`]. Returns
/// that rate (the unit of the lags) and the pairs.
pub fn relate_files(
    paths: &[PathBuf],
    progress: &dyn Progress,
) -> Result<(u32, Vec<Relation>), Error> {
    let infos = io::probe(paths)?;
    let rate = io::choose_rate(&infos, None);
    let stems = import_all(paths, rate, progress)?;
    let spools: Vec<_> = stems.iter().map(|s| &s.spool).collect();
    let relations = analysis::relation::relate(&spools, rate).map_err(Error::Spool)?;
    Ok((rate, relations))
}

/// Plays `spool` through its repair `chain` and hands each block of repaired audio to `f`.
fn for_each_repaired_block(
    chain: &mut RepairChain,
    spool: &Spool,
    mut f: impl FnMut(&[f32]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let ch = spool.channels();
    let mut buf = vec![0.0f32; 8192 * ch];
    let mut pos = 0u64;
    while pos < spool.frames() {
        let n = (spool.frames() - pos).min(8192) as usize;
        let block = &mut buf[..n * ch];
        chain.read(spool, pos, block)?;
        f(block)?;
        pos += n as u64;
    }
    Ok(())
}

/// A track's loudness where it plays once `repair` has run (what the faders balance) and
/// its spectrum then (what the words model and the panner weigh: hum or hiss the repair
/// removes must not count as accompaniment, nor clipping it rebuilds as missing energy).
/// The analysis figure and no spectrum where nothing is repaired.
fn repaired_loudness(
    spool: &Spool,
    analysis: &TrackAnalysis,
    repair: &Repair,
    rate: u32,
) -> std::io::Result<(Option<f64>, Option<Spectrum>)> {
    let Some(mut chain) = RepairChain::new(repair, spool, rate)? else {
        return Ok((analysis.loudness.active_lufs, None));
    };
    let mut meter = LoudnessMeter::new(spool.channels(), rate, false);
    let mut bands = SpectrumMeter::new(spool.channels(), rate);
    for_each_repaired_block(&mut chain, spool, |b| {
        meter.push(b);
        bands.push(b);
        Ok(())
    })?;
    Ok((meter.finish()?.active_lufs, Some(bands.finish()?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::testsig::{Rng, band_noise};

    /// Writes a 4-track song of `loops` × 6 s (the same 6 s again and again, as a long live
    /// take repeats its material) as 16 kHz mono WAV stems in `dir`: a kick on every beat, a
    /// bass, a lead vocal singing phrases with breaths, and a guitar.
    fn write_song(dir: &Path, loops: usize) {
        let rate = 16_000u32;
        let n = 6 * rate as usize;
        let hz = rate as f64;
        let mut rng = Rng(0x6d65_6d00);
        let tracks: [(&str, Vec<f32>); 4] = [
            ("kick", {
                let body = band_noise(&mut rng, n, hz, 0.3, 40.0, 120.0);
                (0..n)
                    .map(|i| body[i] * (-((i % 8000) as f32) / 800.0).exp() * 3.0)
                    .collect()
            }),
            ("bass", band_noise(&mut rng, n, hz, 0.1, 50.0, 250.0)),
            ("lead vocal", {
                let v = band_noise(&mut rng, n, hz, 0.1, 200.0, 4000.0);
                // 2.5 s phrases, 0.5 s breaths.
                (0..n)
                    .map(|i| if i % 48_000 < 40_000 { v[i] } else { 0.0 })
                    .collect()
            }),
            ("guitar", band_noise(&mut rng, n, hz, 0.05, 150.0, 5000.0)),
        ];
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        for (name, x) in &tracks {
            let mut w = hound::WavWriter::create(dir.join(format!("{name}.wav")), spec).unwrap();
            for _ in 0..loops {
                x.iter().for_each(|&v| w.write_sample(v).unwrap());
            }
            w.finalize().unwrap();
        }
    }

    /// The most heap `mix` holds at once for the song of [`write_song`] `loops` long, on a
    /// one-thread pool (every allocation on the counting thread), and the mix's decisions.
    fn mix_peak(loops: usize) -> (i64, MixResult) {
        let dir = tempfile::tempdir().unwrap();
        let stems = dir.path().join("stems");
        std::fs::create_dir(&stems).unwrap();
        write_song(&stems, loops);
        let opts = MixOptions {
            target: Target::STREAMING,
            rate: None,
            format: OutputFormat::Wav16,
            session_out: None,
            stems_out: None,
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let (r, peak) = pool.install(|| {
            crate::test_heap::peak_of(|| mix(&[stems], &dir.path().join("mix.wav"), &opts, &Quiet))
        });
        (peak, r.unwrap())
    }

    /// The streaming path end to end: decoding, analysis, every decision and the render of a
    /// song 4× as long (12 → 48 s, 4 tracks) take at most [`GROWTH_BOUND`] more heap at
    /// their peak. Before the per-track curves went to disk (onset flux, loudness curves, the
    /// words model's energies, per-frame masking results) the peak grew by 175 kB here
    /// (1.2 kB per track-second); then by 58 kB (the curves of the track being analysed, its
    /// hum line data, the words model's f64 cut curves); now by none measurable (±3 kB).
    #[test]
    fn peak_memory_does_not_grow_with_the_song() {
        /// What may still grow, 0.1 kB per track-second: a few floats per 0.5 s frame of the
        /// track being analysed (the hum and noise detector's frame powers), the words model's
        /// cuts (a byte per bell, track and 400 ms) and ride, the session's automation points.
        const GROWTH_BOUND: i64 = 15_000;
        let (short, a) = mix_peak(2);
        let (long, b) = mix_peak(8);
        // The same song: the same roles, and the words model at work in both.
        let roles = |r: &MixResult| -> Vec<String> {
            r.session
                .tracks
                .iter()
                .map(|t| format!("{:?}", t.role))
                .collect()
        };
        assert_eq!(roles(&a), roles(&b));
        eprintln!("peak heap: {short} B for 12 s, {long} B for 48 s");
        assert!(
            long - short < GROWTH_BOUND,
            "peak heap {short} B for 12 s, {long} B for 48 s: grows with the song"
        );
    }
}
