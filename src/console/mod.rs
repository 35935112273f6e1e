//! The console renders a session: channel strips into the mix bus, then the master.
//! It executes; it never decides. Same session and stems in, same bytes out.

pub mod master;
pub mod strip;

use ebur128::{EbuR128, Mode};
use rayon::prelude::*;

use crate::dsp::Processor;
use crate::dsp::crossover::LinkwitzRiley;
use crate::dsp::harmonics::{BassHarmonics, BassHarmonicsSettings};
use crate::dsp::stereo::LowMono;
use crate::error::Error;
use crate::io::spool::{Spool, SpoolWriter};
use crate::io::write::AudioWriter;
use crate::session::Session;
use master::MasterReport;
use strip::{ChannelStrip, RepairChain};

const BLOCK: usize = 4096;

/// Where [`play_strips`] hands each strip's output block: its track index and the block.
pub type StripOut<'a> = dyn FnMut(usize, &[f32]) -> Result<(), Error> + 'a;

/// Renders `session` with its stems (in track order, at the session rate) to the mix bus,
/// writing each strip's own output to `stems_out` when given (one stereo writer per track),
/// then masters the bus. Returns the delivered master audio and the master's report.
pub fn render(
    session: &Session,
    stems: &[&Spool],
    stems_out: Option<&mut [AudioWriter]>,
) -> Result<(Spool, MasterReport), Error> {
    let rate = session.sample_rate;
    let mut bus = SpoolWriter::new(2).map_err(Error::Spool)?;
    let mut meter = EbuR128::new(2, rate, Mode::I).expect("stereo at a valid rate");
    let mut to_bus = |mix: &[f32]| {
        meter.add_frames_f32(mix).expect("stereo frames");
        bus.write(mix).map_err(Error::Spool)
    };
    match stems_out {
        Some(writers) => play_strips(
            session,
            stems,
            Some(&mut |i: usize, solo: &[f32]| Ok(writers[i].write(solo)?)),
            &mut to_bus,
        )?,
        None => play_strips(session, stems, None, &mut to_bus)?,
    }
    let bus = bus.finish().map_err(Error::Spool)?;
    let bus_lufs = meter.loudness_global().ok().filter(|v| v.is_finite());
    master::master(&bus, rate, bus_lufs, &session.master)
}

/// Plays the strips of `session` into the mix bus, block by block, without the master: each
/// block of the bus goes to `bus`, and each strip's own stereo output (after its low-end
/// mono: what the track contributes to the bus) to `strip_out` when given, with its track
/// index. [`render`] delivers the bus; the engineer listens to the strips through it before
/// delivering a decision.
pub fn play_strips(
    session: &Session,
    stems: &[&Spool],
    mut strip_out: Option<&mut StripOut<'_>>,
    bus: &mut dyn FnMut(&[f32]) -> Result<(), Error>,
) -> Result<(), Error> {
    assert_eq!(stems.len(), session.tracks.len(), "one stem per track");
    let rate = session.sample_rate;
    let mut strips: Vec<ChannelStrip> = session
        .tracks
        .iter()
        .zip(stems)
        .map(|(t, s)| ChannelStrip::new(&t.strip, s.channels(), rate))
        .collect();
    let mut repairs: Vec<Option<RepairChain>> = session
        .tracks
        .iter()
        .zip(stems)
        .map(|(t, s)| RepairChain::new(&t.strip.repair, s, rate))
        .collect::<Result<_, _>>()
        .map_err(Error::Spool)?;
    // A pair's band split comes before the harmonics, so the low side's harmonics are
    // made from (and kept with) the range it keeps.
    let mut crossovers: Vec<Option<LinkwitzRiley>> = session
        .tracks
        .iter()
        .zip(stems)
        .map(|(t, s)| {
            t.strip
                .crossover
                .as_ref()
                .and_then(|x| LinkwitzRiley::new(s.channels(), f64::from(rate), x.side, x.freq_hz))
        })
        .collect();
    let mut harmonics: Vec<Option<BassHarmonics>> = session
        .tracks
        .iter()
        .zip(stems)
        .map(|(t, s)| {
            t.strip.bass_harmonics.as_ref().map(|h| {
                let settings = BassHarmonicsSettings {
                    amount_db: h.amount_db,
                    low_hz: h.low_hz,
                    high_hz: h.high_hz,
                };
                BassHarmonics::new(s.channels(), f64::from(rate), settings)
            })
        })
        .collect();
    // Low-end mono per strip (so each `--stems-out` file holds it too), on every strip
    // alike, centred ones included: it turns the mid's phase, which must stay the same
    // across tracks that captured the same source.
    let mut low_mono: Vec<Option<LowMono>> = session
        .tracks
        .iter()
        .map(|t| {
            session
                .mono_below_hz
                .filter(|_| !t.strip.mute)
                .map(|f| LowMono::new(f64::from(rate), f))
        })
        .collect();
    let frames = stems.iter().map(|s| s.frames()).max().unwrap_or(0);
    // Per track: its input block and its strip's output block. The strips of a block play
    // in parallel, each into its own buffer; the bus sums them in track order, so the bytes
    // do not depend on the thread count.
    let mut inputs: Vec<Vec<f32>> = stems
        .iter()
        .map(|s| vec![0.0; BLOCK * s.channels()])
        .collect();
    let mut solos: Vec<Vec<f32>> = vec![vec![0.0; BLOCK * 2]; stems.len()];
    let mut mix = vec![0.0f32; BLOCK * 2];
    let mut pos = 0u64;
    while pos < frames {
        let n = (frames - pos).min(BLOCK as u64) as usize;
        strips
            .par_iter_mut()
            .zip(stems.par_iter())
            .zip(repairs.par_iter_mut())
            .zip(crossovers.par_iter_mut())
            .zip(harmonics.par_iter_mut())
            .zip(low_mono.par_iter_mut())
            .zip(inputs.par_iter_mut().zip(solos.par_iter_mut()))
            .try_for_each(
                |((((((strip, stem), repair), crossover), harmonics), low_mono), (input, solo))| {
                    let input = &mut input[..n * stem.channels()];
                    match repair {
                        Some(r) => r.read(stem, pos, input),
                        None => stem.read(pos, input),
                    }
                    .map_err(Error::Spool)?;
                    if let Some(x) = crossover {
                        x.process(input);
                    }
                    if let Some(h) = harmonics {
                        h.process(input);
                    }
                    let solo = &mut solo[..n * 2];
                    solo.fill(0.0);
                    strip.mix_into(input, solo, None);
                    if let Some(lm) = low_mono {
                        lm.process(solo);
                    }
                    Ok::<(), Error>(())
                },
            )?;
        let mix = &mut mix[..n * 2];
        mix.fill(0.0);
        for (i, solo) in solos.iter().enumerate() {
            let solo = &solo[..n * 2];
            for (m, s) in mix.iter_mut().zip(solo) {
                *m += s;
            }
            if let Some(out) = strip_out.as_deref_mut() {
                out(i, solo)?;
            }
        }
        bus(mix)?;
        pos += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::testsig::{Rng, band_noise, low_side_to_mid_db, spool};
    use crate::engineer::roles::Role;
    use crate::session::{FORMAT_VERSION, Master, Strip, Track};

    fn session(mono_below_hz: Option<f64>) -> Session {
        let track = |name: &str, pan: f64| Track {
            name: name.into(),
            source: name.into(),
            role: Role::Keys,
            strip: Strip {
                pan,
                ..Strip::default()
            },
        };
        Session {
            format_version: FORMAT_VERSION,
            sample_rate: 48_000,
            tracks: vec![track("wide", 0.0), track("panned", 0.7)],
            master: Master {
                target_lufs: -20.0,
                ceiling_dbtp: -1.0,
            },
            tempo_bpm: None,
            mono_below_hz,
        }
    }

    #[test]
    fn a_wide_bass_plays_mono_below_120_hz() {
        let rate = 48_000.0;
        let n = 4 * 48_000;
        let mut rng = Rng(0xba55);
        // A stereo bass with unrelated channels and a mono bass panned right.
        let bass = |rng: &mut Rng| band_noise(rng, n, rate, 0.1, 30.0, 250.0);
        let (l, r) = (bass(&mut rng), bass(&mut rng));
        let wide: Vec<f32> = l.iter().zip(&r).flat_map(|(&a, &b)| [a, b]).collect();
        let panned = bass(&mut rng);
        let stems = [spool(&wide, 2), spool(&panned, 1)];
        let stems: Vec<&Spool> = stems.iter().collect();
        let (off, _) = render(&session(None), &stems, None).unwrap();
        let (on, _) = render(&session(Some(150.0)), &stems, None).unwrap();
        let read = |s: &Spool| {
            let mut v = vec![0.0f32; s.frames() as usize * 2];
            s.read(0, &mut v).unwrap();
            v
        };
        let before = low_side_to_mid_db(&read(&off), rate, 120.0);
        let after = low_side_to_mid_db(&read(&on), rate, 120.0);
        assert!(before > -6.0, "wide before: {before:.1} dB");
        assert!(
            after <= -20.0,
            "side/mid below 120 Hz after the console: {after:.1} dB"
        );
    }

    #[test]
    fn a_split_pair_on_one_source_plays_the_whole_source_flat() {
        use crate::dsp::crossover::Side;
        use crate::dsp::testsig::{sine, to_f32, tone_power};
        use crate::session::Crossover;
        // Two mics that captured the same tones (a third of an octave apart, 40 Hz–8 kHz),
        // split at 200 Hz, against one of them played alone: the same spectrum within
        // 0.5 dB, so the split neither combs nor cancels.
        let rate = 48_000.0;
        let n = 3 * 48_000;
        let freqs: Vec<f64> = (0..24).map(|k| 40.0 * 2f64.powf(k as f64 / 3.0)).collect();
        let mut x = vec![0.0; n];
        for (k, &f) in freqs.iter().enumerate() {
            for (v, s) in x.iter_mut().zip(sine(n, rate, f, 0.02, k as f64)) {
                *v += s;
            }
        }
        let x = to_f32(&x);
        let stems = [spool(&x, 1), spool(&x, 1)];
        let stems: Vec<&Spool> = stems.iter().collect();
        let mut split = session(None);
        for (t, (side, partner)) in split
            .tracks
            .iter_mut()
            .zip([(Side::Low, "panned"), (Side::High, "wide")])
        {
            t.strip.pan = 0.0;
            t.strip.crossover = Some(Crossover {
                freq_hz: 200.0,
                side,
                partner: partner.into(),
            });
        }
        split.validate().unwrap();
        let mut alone = session(None);
        alone.tracks[1].strip.mute = true;
        alone.tracks[1].strip.pan = 0.0;
        let left = |s: &Session| {
            let (out, _) = render(s, &stems, None).unwrap();
            let mut v = vec![0.0f32; out.frames() as usize * 2];
            out.read(0, &mut v).unwrap();
            v.chunks_exact(2)
                .skip(48_000)
                .map(|f| f64::from(f[0]))
                .collect::<Vec<_>>()
        };
        let (a, b) = (left(&split), left(&alone));
        for &f in &freqs {
            let db = 10.0 * (tone_power(&a, rate, f) / tone_power(&b, rate, f)).log10();
            assert!(
                db.abs() < 0.5,
                "{f:.0} Hz: split pair {db:+.2} dB against one mic"
            );
        }
    }
}
