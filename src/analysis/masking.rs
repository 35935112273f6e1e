//! Masking between tracks: how much of each track the rest of the mix hides, per band and
//! over time, for a given balance and playback level.
//!
//! # Model
//! An excitation-pattern model in the manner of ITU-R BS.1387 (PEAQ, basic version),
//! evaluated on the 50 ms third-octave [`BandFrames`] of each track:
//! 1. **Calibration.** Digital band levels become dB SPL by one offset, chosen so that the
//!    mix (all tracks after their gains) plays at `playback_spl`: its energy-mean K-weighted
//!    level over the frames where it plays. Like a listener's volume knob, turning every
//!    fader up together changes nothing; the playback level alone decides how loud it is.
//! 2. **Masker.** For track *i* in frame *t*: the band energies of all the other tracks,
//!    after their gains, summed (no spatial release: see the limitations).
//! 3. **Spreading** across bands, in Bark (Zwicker & Terhardt 1980): a masker band *j* at
//!    level *L* (dB SPL) excites band *b* below it attenuated by 27 dB/Bark, above it by
//!    24 + 230/f_j − 0.2·L dB/Bark (at least 4): Terhardt's (1979) slopes as used by PEAQ.
//!    Loud maskers reach further up: the upward spread of masking that makes a loud bass
//!    cover the low mids, and that shrinks at quiet playback.
//! 4. **Threshold.** The spread excitation lowered by PEAQ's masking offset (3 dB up to
//!    12 Bark, 0.25·z dB above), plus, in power, the threshold in quiet at the band centre
//!    (ISO 226:2003 up to 12.5 kHz, ISO 389-7:2005 at 16 kHz, extrapolated at 20 kHz).
//! 5. **Signal-to-masker ratio** of the track in band *b*: its own band energy (after its
//!    gain) over that threshold, dB.
//!
//! A frame of a track counts only where the track plays: its own K-weighted level within
//! 20 dB of its loudest 5 % of frames (the activity rule of the loudness stage, so gains do
//! not change which frames count). In such a frame the track's **audible share** is the
//! share of its sensation level (dB above the threshold in quiet, summed over bands) that
//! lies in bands where its SMR is at least [`AudibilityCriterion::min_smr_db`]; the frame is
//! **unmasked** when that share reaches [`AudibilityCriterion::min_audible_share`] (half,
//! by default: most of what the track offers the ear gets through). Sensation level weights
//! the bands by what the track alone would make heard, so a bass is judged on its low
//! bands and its harmonics together, and a band the track barely reaches weighs little.
//!
//! Why this model: it is standard and cheap — 31 bands, spreading by table look-up — so the
//! level engineer can call [`MaskingModel::audibility`] inside an optimisation loop, and it
//! holds the three effects a mix depends on: masking within a band, upward spread growing
//! with level, and the threshold in quiet that makes soft parts vanish at low volume.
//!
//! Limitations: no temporal (forward/backward) masking beyond the 100 ms window; one masking
//! offset for tonal and noise maskers alike; no binaural release from masking (tracks panned
//! apart are heard more easily than this says, so it errs towards "masked"); below ~100 Hz
//! the short-time bands are smeared by the window (see [`crate::analysis::spectrum`]).

use std::io;
use std::sync::Arc;

use rayon::prelude::*;

use crate::analysis::spectrum::{
    BAND_FRAME_BLOCK, BandFrames, FRAME_HOP_S, THIRD_OCTAVE_BANDS, third_octave_band,
};
use crate::io::spool::{Spool, SpoolWriter};

const BANDS: usize = THIRD_OCTAVE_BANDS;
/// Spreading tables exist for masker levels 0..=120 dB SPL, in 1 dB steps.
const LEVELS: usize = 121;
/// Lower slope of the spreading function, dB/Bark.
const LOWER_SLOPE: f64 = 27.0;
/// Shallowest upper slope allowed, dB/Bark (reached near 100 dB SPL).
const MIN_UPPER_SLOPE: f64 = 4.0;
/// A frame is silence below this K-weighted level, dB re full scale (the BS.1770 absolute gate).
const SILENCE_DB: f64 = -70.0;
/// Activity: within this many dB of the loudest 5 % of frames.
const ACTIVE_RANGE_DB: f64 = 20.0;
/// SMRs are clamped to ±this in the per-band means, so one silent frame cannot dominate.
const SMR_CLAMP_DB: f32 = 60.0;

/// Threshold in quiet at the third-octave centres, dB SPL: ISO 226:2003 (20 Hz–12.5 kHz),
/// ISO 389-7:2005 (16 kHz), extrapolated from ISO 389-7's 18 kHz value (20 kHz).
pub const THRESHOLD_IN_QUIET_DB: [f64; BANDS] = [
    78.5, 68.7, 59.5, 51.1, 44.0, 37.5, 31.5, 26.5, 22.1, 17.9, 14.4, 11.4, 8.6, 6.2, 4.4, 3.0,
    2.2, 2.4, 3.5, 1.7, -1.3, -4.2, -6.0, -5.4, -1.5, 6.0, 12.6, 13.9, 12.3, 40.2, 100.0,
];

/// When a playing frame of a track counts as unmasked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AudibilityCriterion {
    /// A band is audible when the track's SMR there is at least this, dB.
    pub min_smr_db: f64,
    /// A frame is unmasked when at least this share (0…1) of the track's sensation level
    /// lies in audible bands.
    pub min_audible_share: f64,
    /// Keep each frame's audible share ([`TrackAudibility::frame_audible_share`]): a few
    /// bytes per track and 50 ms frame (2.3 MB per track-hour), so off unless asked for; the
    /// balance and playback decisions only read the summaries.
    pub per_frame: bool,
}

impl Default for AudibilityCriterion {
    fn default() -> Self {
        AudibilityCriterion {
            min_smr_db: 0.0,
            min_audible_share: 0.5,
            per_frame: false,
        }
    }
}

/// How audible one track is in the mix.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrackAudibility {
    /// Frames in which the track plays.
    pub active_frames: usize,
    /// Share (0…1) of its playing frames in which it is unmasked; `None` if it never plays.
    pub share_unmasked: Option<f64>,
    /// Mean audible share over its playing frames: a smooth companion of `share_unmasked`
    /// for optimisers.
    pub mean_audible_share: Option<f64>,
    /// Per third-octave band: mean SMR (clamped to ±60 dB) over the playing frames in which
    /// the track reaches above the threshold in quiet in that band, dB.
    pub band_smr_db: Vec<Option<f64>>,
    /// Per band: share of those frames in which the band is masked.
    pub band_masked_fraction: Vec<Option<f64>>,
    /// Per frame: the audible share, `None` where the track does not play; empty unless
    /// the criterion asked for it ([`AudibilityCriterion::per_frame`]).
    pub frame_audible_share: Vec<Option<f32>>,
}

/// Why masking could not be evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MaskingError {
    /// A track's frames are not third-octave frames.
    #[error("track {track}: band frames have {got} bands, expected {expected} third-octave bands")]
    Bands {
        /// Index of the track.
        track: usize,
        /// Its band count.
        got: usize,
        /// The band count required.
        expected: usize,
    },
    /// A track's frames are not on the common time grid.
    #[error("track {track}: frame hop is {got} s, expected {expected} s")]
    Hop {
        /// Index of the track.
        track: usize,
        /// Its hop, seconds.
        got: f64,
        /// The hop required, seconds.
        expected: f64,
    },
    /// Not one gain per track.
    #[error("expected {expected} gains (one per track), got {got}")]
    GainCount {
        /// Number of tracks.
        expected: usize,
        /// Number of gains given.
        got: usize,
    },
    /// A gain is NaN or infinite.
    #[error("gain of track {track} must be a finite number of dB, got {value}")]
    Gain {
        /// Index of the track.
        track: usize,
        /// The value given.
        value: f64,
    },
    /// A track's band frames could not be read back from the temporary folder.
    #[error("track {track}: cannot read its band frames back: {message}")]
    Store {
        /// Index of the track.
        track: usize,
        /// The I/O error.
        message: String,
    },
    /// The playback level is outside what the model covers.
    #[error("playback level must be within 0..=120 dB SPL, got {0}")]
    PlaybackLevel(f64),
}

/// Tracks prepared for repeated masking evaluations: band energies in linear form, which
/// frames each track plays in, and the spreading tables. Build once per session, then call
/// [`MaskingModel::audibility`] for each balance to try; nothing is re-rendered.
///
/// The energies stay on disk (one [`Spool`] per track) and every evaluation streams them
/// [`BAND_FRAME_BLOCK`] frames at a time, all tracks together: memory holds one block of
/// every track plus a byte per track and frame (activity) and, per evaluation, a few bytes
/// per frame (the mix level and each track's per-frame result).
#[derive(Debug, Clone)]
pub struct MaskingModel {
    frames: usize,
    /// Per track: band energies at unit gain, frame-major (past its end: silence).
    energy: Vec<Arc<Spool>>,
    /// Per track: whether it plays in each frame.
    active: Vec<Vec<bool>>,
    /// K-weighting power gain at each band centre.
    k_weight: [f64; BANDS],
    /// Masking offset as a power factor per band.
    offset: [f32; BANDS],
    /// Spreading weights: `[level][masker band][band]`.
    spread: Vec<f32>,
}

/// Critical-band rate of a frequency, Bark (Zwicker & Terhardt 1980).
pub fn bark(freq_hz: f64) -> f64 {
    13.0 * (0.00076 * freq_hz).atan() + 3.5 * (freq_hz / 7500.0).powi(2).atan()
}

/// Power gain of the BS.1770 K-weighting (48 kHz coefficients) at `freq_hz`.
pub fn k_weighting(freq_hz: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq_hz / 48_000.0;
    let response = |b: [f64; 3], a: [f64; 3]| {
        let (c1, s1, c2, s2) = (w.cos(), w.sin(), (2.0 * w).cos(), (2.0 * w).sin());
        let num = (b[0] + b[1] * c1 + b[2] * c2).powi(2) + (b[1] * s1 + b[2] * s2).powi(2);
        let den = (a[0] + a[1] * c1 + a[2] * c2).powi(2) + (a[1] * s1 + a[2] * s2).powi(2);
        num / den
    };
    let shelf = response(
        [
            1.535_124_859_586_97,
            -2.691_696_189_406_38,
            1.198_392_810_852_85,
        ],
        [1.0, -1.690_659_293_182_41, 0.732_480_774_215_85],
    );
    let high_pass = response(
        [1.0, -2.0, 1.0],
        [1.0, -1.990_047_454_833_98, 0.990_072_250_366_21],
    );
    shelf * high_pass
}

/// 10·log10(x) to within 0.005 dB, for the inner loops (exponent bits plus a cubic for the
/// mantissa). Deterministic; x ≤ 0 gives a very negative finite number.
#[inline]
fn fast_db(x: f32) -> f32 {
    let bits = x.max(1e-30).to_bits();
    let exponent = ((bits >> 23) & 0xff) as f32 - 127.0;
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000); // 1 ≤ m < 2
    // log2(m) on [1, 2): least-squares cubic, error < 0.0014 (0.004 dB).
    let log2m = -2.133_816_5 + (3.010_730_3 + (-1.029_492_8 + 0.153_913_53 * m) * m) * m;
    (exponent + log2m) * 3.010_3
}

/// Indices of the frames where a level curve is active: above silence and within
/// [`ACTIVE_RANGE_DB`] of its loudest 5 %.
fn active_frames(levels: &[f64]) -> Vec<bool> {
    let mut heard: Vec<f64> = levels.iter().copied().filter(|&l| l > SILENCE_DB).collect();
    if heard.is_empty() {
        return vec![false; levels.len()];
    }
    heard.sort_by(f64::total_cmp);
    let loud = heard[((heard.len() - 1) as f64 * 0.95).round() as usize];
    levels
        .iter()
        .map(|&l| l > SILENCE_DB && l >= loud - ACTIVE_RANGE_DB)
        .collect()
}

impl MaskingModel {
    /// Prepares `tracks` (the short-time frames of each, as analysed). Tracks of different
    /// lengths are fine: missing frames are silence.
    pub fn new(tracks: &[&BandFrames]) -> Result<MaskingModel, MaskingError> {
        for (i, t) in tracks.iter().enumerate() {
            if t.bands() != BANDS {
                return Err(MaskingError::Bands {
                    track: i,
                    got: t.bands(),
                    expected: BANDS,
                });
            }
            if (t.hop_s() - FRAME_HOP_S).abs() > 1e-9 {
                return Err(MaskingError::Hop {
                    track: i,
                    got: t.hop_s(),
                    expected: FRAME_HOP_S,
                });
            }
        }
        let frames = tracks.iter().map(|t| t.frames()).max().unwrap_or(0);
        let centres: Vec<f64> = (0..BANDS).map(|b| third_octave_band(b).centre_hz).collect();
        let k_weight: [f64; BANDS] = std::array::from_fn(|b| k_weighting(centres[b]));
        let (energy, active) = tracks
            .par_iter()
            .enumerate()
            .map(|(i, t)| {
                let store = |e: io::Error| MaskingError::Store {
                    track: i,
                    message: e.to_string(),
                };
                let mut out = SpoolWriter::new(BANDS).map_err(store)?;
                let mut levels = Vec::with_capacity(frames);
                let mut e = Vec::new();
                let mut blocks = t.blocks(BAND_FRAME_BLOCK);
                while let Some(block) = blocks.next_block().map_err(store)? {
                    e.clear();
                    e.extend(block.iter().map(|&db| {
                        // A non-finite level (from a hand-edited file) counts as silence.
                        if db.is_finite() {
                            10f32.powf(db / 10.0)
                        } else {
                            0.0
                        }
                    }));
                    out.write(&e).map_err(store)?;
                    levels.extend(e.chunks_exact(BANDS).map(|f| frame_level(f, &k_weight)));
                }
                // Frames past the end of a shorter track are silence.
                levels.resize(frames, frame_level(&[0.0; BANDS], &k_weight));
                Ok((
                    Arc::new(out.finish().map_err(store)?),
                    active_frames(&levels),
                ))
            })
            .collect::<Result<Vec<_>, MaskingError>>()?
            .into_iter()
            .unzip();
        let z: Vec<f64> = centres.iter().map(|&f| bark(f)).collect();
        let offset = std::array::from_fn(|b| {
            let m = if z[b] <= 12.0 { 3.0 } else { 0.25 * z[b] };
            10f64.powf(-m / 10.0) as f32
        });
        let mut spread = vec![0.0f32; LEVELS * BANDS * BANDS];
        for level in 0..LEVELS {
            for j in 0..BANDS {
                let upper = (24.0 + 230.0 / centres[j] - 0.2 * level as f64).max(MIN_UPPER_SLOPE);
                for b in 0..BANDS {
                    let dz = z[b] - z[j];
                    let att = if dz < 0.0 {
                        -LOWER_SLOPE * dz
                    } else {
                        upper * dz
                    };
                    spread[(level * BANDS + j) * BANDS + b] = 10f64.powf(-att / 10.0) as f32;
                }
            }
        }
        Ok(MaskingModel {
            frames,
            energy,
            active,
            k_weight,
            offset,
            spread,
        })
    }

    /// Number of tracks.
    pub fn tracks(&self) -> usize {
        self.energy.len()
    }

    /// Number of frames (of the longest track).
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Whether track `i` plays in each frame (empty for an unknown track).
    pub fn active(&self, i: usize) -> &[bool] {
        self.active.get(i).map_or(&[], |a| a.as_slice())
    }

    /// How audible each track is with the tracks at `gains_db` (fader and pan gain of each
    /// track, dB) and the mix played at `playback_spl` dB SPL (85: loud monitoring, 60:
    /// quiet living room).
    pub fn audibility(
        &self,
        gains_db: &[f64],
        playback_spl: f64,
        criterion: &AudibilityCriterion,
    ) -> Result<Vec<TrackAudibility>, MaskingError> {
        self.audibility_with_eq(gains_db, &[], playback_spl, criterion)
    }

    /// [`MaskingModel::audibility`] with each track's static EQ as well: `eq_db[i][b]` is
    /// the power gain of track `i`'s EQ at third-octave band `b`, dB. A track with no row
    /// (or an empty one) is flat.
    pub fn audibility_with_eq(
        &self,
        gains_db: &[f64],
        eq_db: &[Vec<f64>],
        playback_spl: f64,
        criterion: &AudibilityCriterion,
    ) -> Result<Vec<TrackAudibility>, MaskingError> {
        if gains_db.len() != self.tracks() {
            return Err(MaskingError::GainCount {
                expected: self.tracks(),
                got: gains_db.len(),
            });
        }
        if let Some((i, &g)) = gains_db.iter().enumerate().find(|(_, g)| !g.is_finite()) {
            return Err(MaskingError::Gain { track: i, value: g });
        }
        if !(0.0..=120.0).contains(&playback_spl) {
            return Err(MaskingError::PlaybackLevel(playback_spl));
        }
        if let Some((i, &g)) = eq_db
            .iter()
            .enumerate()
            .flat_map(|(i, row)| row.iter().map(move |g| (i, g)))
            .find(|(_, g)| !g.is_finite())
        {
            return Err(MaskingError::Gain { track: i, value: g });
        }
        // Per track and band: the power gain of its fader and EQ together.
        let gains: Vec<[f64; BANDS]> = gains_db
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let row = eq_db.get(i).map_or(&[][..], |r| r.as_slice());
                std::array::from_fn(|b| 10f64.powf((g + row.get(b).copied().unwrap_or(0.0)) / 10.0))
            })
            .collect();
        // First pass: the level of the mix in each frame, for the calibration.
        let mut mix_levels = Vec::with_capacity(self.frames);
        let mut reader = BlockReader::new(self);
        while reader.next_block(&gains)? {
            mix_levels.extend(
                reader.mix[..reader.len * BANDS]
                    .chunks_exact(BANDS)
                    .map(|f| frame_level(f, &self.k_weight)),
            );
        }
        let mix_active = active_frames(&mix_levels);
        // The mix's mean power where it plays, summed in frame order without keeping the
        // powers (memory stays a few bytes per frame).
        let (power, playing) = mix_levels
            .iter()
            .zip(&mix_active)
            .filter(|(_, a)| **a)
            .fold((0.0f64, 0usize), |(p, n), (l, _)| {
                (p + 10f64.powf(l / 10.0), n + 1)
            });
        if playing == 0 {
            return Ok((0..self.tracks())
                .map(|_| TrackAudibility {
                    band_smr_db: vec![None; BANDS],
                    band_masked_fraction: vec![None; BANDS],
                    frame_audible_share: if criterion.per_frame {
                        vec![None; self.frames]
                    } else {
                        Vec::new()
                    },
                    ..Default::default()
                })
                .collect());
        }
        let mix_db = 10.0 * (power / playing as f64).log10();
        // dB SPL = digital dB + calibration.
        let calibration = playback_spl - mix_db;
        let quiet: [f32; BANDS] = std::array::from_fn(|b| {
            10f64.powf((THRESHOLD_IN_QUIET_DB[b] - calibration) / 10.0) as f32
        });
        let ctx = Evaluation {
            model: self,
            calibration: calibration as f32,
            quiet,
            min_smr: 10f64.powf(criterion.min_smr_db / 10.0) as f32,
            min_share: criterion.min_audible_share,
        };
        // Second pass: every track against the rest, block by block.
        let mut states: Vec<TrackState> = (0..self.tracks())
            .map(|_| TrackState::new(if criterion.per_frame { self.frames } else { 0 }))
            .collect();
        let mut reader = BlockReader::new(self);
        while reader.next_block(&gains)? {
            let block = &reader;
            states
                .par_iter_mut()
                .enumerate()
                .for_each(|(i, st)| ctx.block(i, &gains[i].map(|g| g as f32), st, block));
        }
        Ok(states.into_iter().map(TrackState::finish).collect())
    }
}

/// K-weighted level of one frame of band energies, dB.
fn frame_level<T: Copy + Into<f64>>(f: &[T], k_weight: &[f64; BANDS]) -> f64 {
    let p: f64 = f.iter().zip(k_weight).map(|(&x, k)| x.into() * k).sum();
    10.0 * p.max(1e-30).log10()
}

/// Reads the tracks' energies block by block, all tracks at the same frames, and sums the
/// mix of each block.
struct BlockReader<'a> {
    model: &'a MaskingModel,
    /// First frame of the current block.
    start: usize,
    /// Frames in the current block.
    len: usize,
    /// Per track: the current block's energies at unit gain.
    energy: Vec<Vec<f32>>,
    /// The current block's mix energies (all tracks after their gains).
    mix: Vec<f64>,
}

impl<'a> BlockReader<'a> {
    fn new(model: &'a MaskingModel) -> Self {
        BlockReader {
            model,
            start: 0,
            len: 0,
            energy: vec![vec![0.0; BAND_FRAME_BLOCK * BANDS]; model.tracks()],
            mix: vec![0.0; BAND_FRAME_BLOCK * BANDS],
        }
    }

    /// Loads the next block; `false` when done.
    fn next_block(&mut self, gains: &[[f64; BANDS]]) -> Result<bool, MaskingError> {
        let start = self.start + self.len;
        if start >= self.model.frames {
            return Ok(false);
        }
        self.len = (self.model.frames - start).min(BAND_FRAME_BLOCK);
        let n = self.len * BANDS;
        let mix = &mut self.mix[..n];
        mix.fill(0.0);
        for (i, (store, e)) in self.model.energy.iter().zip(&mut self.energy).enumerate() {
            store
                .read(start as u64, &mut e[..n])
                .map_err(|err| MaskingError::Store {
                    track: i,
                    message: err.to_string(),
                })?;
            for (m, f) in mix.chunks_exact_mut(BANDS).zip(e[..n].chunks_exact(BANDS)) {
                for ((m, &x), g) in m.iter_mut().zip(f).zip(&gains[i]) {
                    *m += g * x as f64;
                }
            }
        }
        self.start = start;
        Ok(true)
    }
}

/// The per-call state shared by the per-track evaluations.
struct Evaluation<'a> {
    model: &'a MaskingModel,
    calibration: f32,
    quiet: [f32; BANDS],
    min_smr: f32,
    min_share: f64,
}

/// What one track has gathered so far over the blocks of an evaluation.
struct TrackState {
    smr_sum: [f64; BANDS],
    counted: [usize; BANDS],
    masked: [usize; BANDS],
    /// Per frame (empty when not asked for).
    frame_share: Vec<Option<f32>>,
    active: usize,
    unmasked: usize,
    share_sum: f64,
}

impl TrackState {
    fn new(frames: usize) -> Self {
        TrackState {
            smr_sum: [0.0; BANDS],
            counted: [0; BANDS],
            masked: [0; BANDS],
            frame_share: vec![None; frames],
            active: 0,
            unmasked: 0,
            share_sum: 0.0,
        }
    }

    fn finish(self) -> TrackAudibility {
        let counted = self.counted;
        let per_band = |v: &[f64; BANDS]| -> Vec<Option<f64>> {
            (0..BANDS)
                .map(|b| (counted[b] > 0).then(|| v[b] / counted[b] as f64))
                .collect()
        };
        let active = self.active;
        TrackAudibility {
            active_frames: active,
            share_unmasked: (active > 0).then(|| self.unmasked as f64 / active as f64),
            mean_audible_share: (active > 0).then(|| self.share_sum / active as f64),
            band_smr_db: per_band(&self.smr_sum),
            band_masked_fraction: per_band(&self.masked.map(|x| x as f64)),
            frame_audible_share: self.frame_share,
        }
    }
}

impl Evaluation<'_> {
    /// Track `i` at `gain` (per band) over the frames of the block `r` holds.
    fn block(&self, i: usize, gain: &[f32; BANDS], st: &mut TrackState, r: &BlockReader) {
        let m = self.model;
        let (start, mix_block, own_block) = (r.start, &r.mix, &r.energy[i]);
        let mut masker = [0.0f32; BANDS];
        let mut excitation = [0.0f32; BANDS];
        for k in (0..r.len).filter(|&k| m.active[i][start + k]) {
            st.active += 1;
            let own = &own_block[k * BANDS..(k + 1) * BANDS];
            let mix = &mix_block[k * BANDS..(k + 1) * BANDS];
            for b in 0..BANDS {
                masker[b] = (mix[b] - (gain[b] * own[b]) as f64).max(0.0) as f32;
            }
            excitation.fill(0.0);
            for (j, &mj) in masker.iter().enumerate() {
                if mj <= 0.0 {
                    continue;
                }
                let level = (fast_db(mj) + self.calibration).clamp(0.0, (LEVELS - 1) as f32);
                let row = &m.spread[(level.round() as usize * BANDS + j) * BANDS..][..BANDS];
                for (e, w) in excitation.iter_mut().zip(row) {
                    *e += mj * w;
                }
            }
            let (mut heard, mut total) = (0.0f32, 0.0f32);
            for b in 0..BANDS {
                let target = gain[b] * own[b];
                let sensation = fast_db(target / self.quiet[b]);
                if sensation <= 0.0 {
                    continue;
                }
                let threshold = excitation[b] * m.offset[b] + self.quiet[b];
                let smr = target / threshold;
                let audible = smr >= self.min_smr;
                total += sensation;
                if audible {
                    heard += sensation;
                } else {
                    st.masked[b] += 1;
                }
                st.counted[b] += 1;
                st.smr_sum[b] += fast_db(smr).clamp(-SMR_CLAMP_DB, SMR_CLAMP_DB) as f64;
            }
            let share = if total > 0.0 {
                (heard / total) as f64
            } else {
                0.0
            };
            if share >= self.min_share && total > 0.0 {
                st.unmasked += 1;
            }
            st.share_sum += share;
            if let Some(s) = st.frame_share.get_mut(start + k) {
                *s = Some(share as f32);
            }
        }
    }
}

/// One-call form: prepares the model and evaluates one balance with the default criterion.
/// For repeated evaluations build a [`MaskingModel`] once.
pub fn audibility(
    tracks: &[&BandFrames],
    gains_db: &[f64],
    playback_spl: f64,
) -> Result<Vec<TrackAudibility>, MaskingError> {
    MaskingModel::new(tracks)?.audibility(gains_db, playback_spl, &AudibilityCriterion::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::spectrum::{FLOOR_DB, SpectrumMeter};
    use crate::dsp::testsig::{band_at as band, band_frames as frames};

    fn silent_except(b: usize, db: f64) -> impl Fn(usize, usize) -> f64 {
        move |_, x| if x == b { db } else { FLOOR_DB }
    }

    /// The one-call form's figures, with the per-frame shares the tests look at.
    fn eval(tracks: &[&BandFrames], gains: &[f64], spl: f64) -> Vec<TrackAudibility> {
        let per_frame = AudibilityCriterion {
            per_frame: true,
            ..Default::default()
        };
        let r = MaskingModel::new(tracks)
            .unwrap()
            .audibility(gains, spl, &per_frame)
            .unwrap();
        let summary = audibility(tracks, gains, spl).unwrap();
        for (a, b) in r.iter().zip(&summary) {
            assert!(
                b.frame_audible_share.is_empty(),
                "per frame only when asked"
            );
            let strip = TrackAudibility {
                frame_audible_share: Vec::new(),
                ..a.clone()
            };
            assert_eq!(&strip, b, "the summaries do not depend on it");
        }
        r
    }

    #[test]
    fn helpers_are_accurate() {
        for x in [1e-20f32, 3.7e-9, 0.001, 0.5, 1.0, 2.0, 123.4, 9.9e5] {
            let exact = 10.0 * (x as f64).log10();
            assert!(
                (fast_db(x) as f64 - exact).abs() < 0.02,
                "{x}: {} vs {exact}",
                fast_db(x)
            );
        }
        assert!((bark(1000.0) - 8.5).abs() < 0.1);
        // K-weighting lifts 1 kHz by 0.69 dB (why BS.1770 subtracts 0.691) and cuts 20 Hz hard.
        assert!((10.0 * k_weighting(997.0).log10() - 0.691).abs() < 0.02);
        assert!(10.0 * k_weighting(20.0).log10() < -10.0);
        assert!((10.0 * k_weighting(10_000.0).log10() - 4.04).abs() < 0.02);
    }

    #[test]
    fn a_track_alone_is_unmasked_and_silence_never_plays() {
        let a = frames(100, |_, _| -40.0);
        let s = frames(100, |_, _| FLOOR_DB);
        let r = eval(&[&a, &s], &[0.0, 0.0], 85.0);
        assert_eq!(r[0].active_frames, 100);
        assert_eq!(r[0].share_unmasked, Some(1.0));
        // Alone, the threshold is the threshold in quiet: every band it reaches is heard.
        assert!(
            r[0].band_smr_db.iter().flatten().all(|&smr| smr > 0.0),
            "{:?}",
            r[0].band_smr_db
        );
        assert_eq!(
            r[0].band_smr_db[0], None,
            "20 Hz at 68 dB SPL is below the threshold in quiet"
        );
        assert_eq!(r[1].active_frames, 0);
        assert_eq!(r[1].share_unmasked, None);
        assert!(r[1].frame_audible_share.iter().all(Option::is_none));
    }

    #[test]
    fn masking_in_a_band_follows_the_level_difference() {
        // A flat broadband masker at −20 dB per band; a 1 kHz band target below and above it.
        let masker = frames(200, |_, _| -20.0);
        let k = band(1000.0);
        let target = frames(200, silent_except(k, -20.0));
        let low = eval(&[&masker, &target], &[0.0, -15.0], 85.0);
        let high = eval(&[&masker, &target], &[0.0, 6.0], 85.0);
        assert_eq!(
            low[1].share_unmasked,
            Some(0.0),
            "{:?}",
            low[1].band_smr_db[k]
        );
        assert_eq!(
            high[1].share_unmasked,
            Some(1.0),
            "{:?}",
            high[1].band_smr_db[k]
        );
        // The SMR moves with the target's gain, dB for dB (the masker does not change).
        let step = high[1].band_smr_db[k].unwrap() - low[1].band_smr_db[k].unwrap();
        assert!((step - 21.0).abs() < 0.5, "{step}");
        // At the masker's own band level the target sits just above threshold: the masking
        // offset (3 dB) less what the neighbouring bands spread into its band.
        let even = eval(&[&masker, &target], &[0.0, 0.0], 85.0);
        let smr = even[1].band_smr_db[k].unwrap();
        assert!((0.0..6.0).contains(&smr), "equal-level SMR {smr}");
    }

    #[test]
    fn upward_spread_is_asymmetric_and_grows_with_level() {
        // A loud 1 kHz masker; targets one octave above and one below, 40 dB down.
        let k = band(1000.0);
        let masker = frames(100, silent_except(k, -10.0));
        let up = frames(100, silent_except(band(2000.0), -50.0));
        let down = frames(100, silent_except(band(500.0), -50.0));
        let loud = eval(&[&masker, &up, &down], &[0.0; 3], 90.0);
        let up_loud = loud[1].band_smr_db[band(2000.0)].unwrap();
        let down_loud = loud[2].band_smr_db[band(500.0)].unwrap();
        assert!(up_loud < down_loud - 20.0, "up {up_loud}, down {down_loud}");
        assert_eq!(
            loud[1].share_unmasked,
            Some(0.0),
            "masked from below at 90 dB SPL"
        );
        // At quiet playback the masker's upper slope steepens: the octave above comes free.
        let quiet = eval(&[&masker, &up, &down], &[0.0; 3], 60.0);
        let up_quiet = quiet[1].band_smr_db[band(2000.0)].unwrap();
        assert!(
            up_quiet > up_loud + 15.0,
            "quiet {up_quiet}, loud {up_loud}"
        );
        assert_eq!(quiet[1].share_unmasked, Some(1.0));
    }

    #[test]
    fn quiet_playback_loses_soft_bass_to_the_threshold_in_quiet() {
        let mids = frames(100, silent_except(band(2000.0), -20.0));
        let bass = frames(100, silent_except(band(50.0), -40.0));
        let loud = eval(&[&mids, &bass], &[0.0; 2], 85.0);
        assert_eq!(
            loud[1].share_unmasked,
            Some(1.0),
            "{:?}",
            loud[1].band_smr_db
        );
        let quiet = eval(&[&mids, &bass], &[0.0; 2], 50.0);
        assert_eq!(
            quiet[1].share_unmasked,
            Some(0.0),
            "{:?}",
            quiet[1].band_smr_db
        );
        assert_eq!(
            quiet[1].active_frames, 100,
            "still counted: it plays, it is just not heard"
        );
    }

    #[test]
    fn only_playing_frames_count() {
        let bed = frames(400, |_, _| -30.0);
        // Plays in the first quarter, silent (a little bleed 40 dB down) after.
        let part = frames(400, |t, _| if t < 100 { -20.0 } else { -60.0 });
        let r = eval(&[&bed, &part], &[0.0, 0.0], 85.0);
        assert_eq!(r[1].active_frames, 100);
        assert!(r[1].frame_audible_share[..100].iter().all(Option::is_some));
        assert!(r[1].frame_audible_share[100..].iter().all(Option::is_none));
        assert_eq!(r[1].share_unmasked, Some(1.0));
    }

    #[test]
    fn moving_every_fader_together_changes_nothing() {
        let a = frames(120, |t, b| -30.0 - (b as f64 - 12.0).abs() - (t % 7) as f64);
        let c = frames(120, |t, b| -25.0 - 0.5 * b as f64 - (t % 3) as f64 * 4.0);
        let model = MaskingModel::new(&[&a, &c]).unwrap();
        let crit = AudibilityCriterion::default();
        let r1 = model.audibility(&[0.0, -6.0], 75.0, &crit).unwrap();
        let r2 = model.audibility(&[12.0, 6.0], 75.0, &crit).unwrap();
        for (x, y) in r1.iter().zip(&r2) {
            let (mx, my) = (x.mean_audible_share.unwrap(), y.mean_audible_share.unwrap());
            assert!((mx - my).abs() < 0.01, "{mx} vs {my}");
            assert_eq!(x.active_frames, y.active_frames);
        }
        // And the result is the same on every call.
        assert_eq!(r1, model.audibility(&[0.0, -6.0], 75.0, &crit).unwrap());
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let a = frames(10, |_, _| -30.0);
        let model = MaskingModel::new(&[&a]).unwrap();
        let crit = AudibilityCriterion::default();
        assert_eq!(
            model.audibility(&[0.0, 1.0], 85.0, &crit),
            Err(MaskingError::GainCount {
                expected: 1,
                got: 2
            })
        );
        assert!(matches!(
            model.audibility(&[f64::NAN], 85.0, &crit),
            Err(MaskingError::Gain { track: 0, .. })
        ));
        assert_eq!(
            model.audibility(&[0.0], 400.0, &crit),
            Err(MaskingError::PlaybackLevel(400.0))
        );
        let db = a.to_vec().unwrap();
        let wrong = BandFrames::from_db(FRAME_HOP_S, 0.1, 24, &db).unwrap();
        assert!(matches!(
            MaskingModel::new(&[&a, &wrong]),
            Err(MaskingError::Bands { track: 1, .. })
        ));
        let slow = BandFrames::from_db(0.1, 0.1, BANDS, &db).unwrap();
        assert!(matches!(
            MaskingModel::new(&[&slow]),
            Err(MaskingError::Hop { track: 0, .. })
        ));
        // No tracks, empty tracks, NaN levels: defined results.
        assert_eq!(audibility(&[], &[], 85.0).unwrap(), vec![]);
        let empty = BandFrames::from_db(FRAME_HOP_S, 0.1, BANDS, &[]).unwrap();
        let nan = BandFrames::from_db(FRAME_HOP_S, 0.1, BANDS, &[f32::NAN; 10 * BANDS]).unwrap();
        let r = audibility(&[&empty, &nan], &[0.0, 0.0], 85.0).unwrap();
        assert!(
            r.iter()
                .all(|t| t.active_frames == 0 && t.share_unmasked.is_none())
        );
    }

    /// From audio: a snare-like burst track is heard over a noise bed on its hits, while a
    /// steady noise track of the same long-term level is masked.
    #[test]
    fn short_frames_let_drum_hits_through() {
        let rate = 48_000u32;
        let n = rate as usize * 8;
        let mut state = 0x1234_5678_9abc_def1u64;
        let mut noise = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        };
        let bed: Vec<f32> = (0..n).map(|_| (0.05 * noise()) as f32).collect();
        // 60 ms decaying noise bursts every 500 ms.
        let snare: Vec<f32> = (0..n)
            .map(|i| {
                let t = (i % (rate as usize / 2)) as f64 / rate as f64;
                if t < 0.06 {
                    (0.12 * noise() * (-t / 0.03).exp()) as f32
                } else {
                    0.0
                }
            })
            .collect();
        let mean_sq =
            |x: &[f32]| x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len() as f64;
        let scale = (mean_sq(&snare) / (0.05f64.powi(2) / 3.0)).sqrt();
        let steady: Vec<f32> = (0..n).map(|_| (0.05 * scale * noise()) as f32).collect();
        assert!((10.0 * (mean_sq(&steady) / mean_sq(&snare)).log10()).abs() < 0.2);
        assert!(
            mean_sq(&snare) < mean_sq(&bed),
            "the snare is quieter than the bed on average"
        );
        let spectrum = |x: &[f32]| {
            let mut m = SpectrumMeter::new(1, rate);
            m.push(x);
            m.finish().unwrap().frames
        };
        let (b, s) = (spectrum(&bed), spectrum(&snare));
        let r = eval(&[&b, &s], &[0.0; 2], 85.0);
        let hits = &r[1];
        // 16 hits; each reaches into two or three overlapping frames.
        assert!(
            (16..=48).contains(&hits.active_frames),
            "{}",
            hits.active_frames
        );
        // Every hit is heard in the frame centred on it; the frames that only catch its
        // edge are masked, which is what they would sound like.
        let heard = hits
            .frame_audible_share
            .iter()
            .flatten()
            .filter(|&&s| s >= 0.5)
            .count();
        assert!(heard >= 16, "{heard} unmasked frames for 16 hits");
        assert!(
            hits.share_unmasked.unwrap() > 0.3,
            "snare {:?}",
            hits.share_unmasked
        );
        let r = eval(&[&b, &spectrum(&steady)], &[0.0; 2], 85.0);
        assert!(
            r[1].share_unmasked.unwrap() < 0.1,
            "steady {:?}",
            r[1].band_smr_db
        );
    }

    /// Peak heap of building a model of `tracks` tracks of `n` frames and evaluating one
    /// balance, on a one-thread pool (so that every allocation is on the counting thread).
    fn model_peak(tracks: usize, n: usize) -> i64 {
        let all: Vec<BandFrames> = (0..tracks)
            .map(|i| {
                // Each track plays two turns in three, with its own spectrum.
                frames(n, move |t, b| {
                    if (t / 80 + i) % 3 == 0 {
                        FLOOR_DB
                    } else {
                        -30.0 - (b as f64 - 3.0 * i as f64).abs() - ((t * 7 + b) % 5) as f64
                    }
                })
            })
            .collect();
        let refs: Vec<&BandFrames> = all.iter().collect();
        let gains = vec![0.0; tracks];
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let (r, peak) = pool.install(|| {
            crate::test_heap::peak_of(|| {
                MaskingModel::new(&refs)
                    .unwrap()
                    .audibility(&gains, 85.0, &AudibilityCriterion::default())
                    .unwrap()
            })
        });
        assert!(r.iter().all(|t| t.active_frames > 0));
        peak
    }

    #[test]
    fn the_model_streams_the_band_frames() {
        let tracks = 8;
        let (short, long) = (model_peak(tracks, 1_200), model_peak(tracks, 12_000));
        let per_track_frame = (long - short) as f64 / (tracks * 10_800) as f64;
        // What grows: each track's per-frame result (8 B) and activity (1 B), and per frame
        // the mix level and one track's levels while the model is built (8 B each). Frames
        // held in memory would add 124 B per track and frame, and their mix 248 B per frame.
        assert!(
            per_track_frame < 16.0,
            "the masking model holds the band frames: {per_track_frame:.1} B per track and frame"
        );
    }
}
