//! The console renders a session: channel strips into the mix bus, then the master.
//! It executes; it never decides. Same session and stems in, same bytes out.

pub mod master;
pub mod strip;

use ebur128::{EbuR128, Mode};

use crate::error::Error;
use crate::io::spool::{Spool, SpoolWriter};
use crate::io::write::AudioWriter;
use crate::session::Session;
use master::MasterReport;
use strip::{ChannelStrip, RepairChain};

const BLOCK: usize = 4096;

/// Renders `session` with its stems (in track order, at the session rate) to the mix bus,
/// writing each strip's own output to `stems_out` when given (one stereo writer per track),
/// then masters the bus. Returns the delivered master audio and the master's report.
pub fn render(
    session: &Session,
    stems: &[&Spool],
    mut stems_out: Option<&mut [AudioWriter]>,
) -> Result<(Spool, MasterReport), Error> {
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
    let frames = stems.iter().map(|s| s.frames()).max().unwrap_or(0);
    let mut bus = SpoolWriter::new(2).map_err(Error::Spool)?;
    let mut meter = EbuR128::new(2, rate, Mode::I).expect("stereo at a valid rate");
    let mut input = vec![0.0f32; BLOCK * 2];
    let mut mix = vec![0.0f32; BLOCK * 2];
    let mut solo = vec![0.0f32; BLOCK * 2];
    let mut pos = 0u64;
    while pos < frames {
        let n = (frames - pos).min(BLOCK as u64) as usize;
        let mix = &mut mix[..n * 2];
        mix.fill(0.0);
        for (i, ((strip, stem), repair)) in
            strips.iter_mut().zip(stems).zip(&mut repairs).enumerate()
        {
            let input = &mut input[..n * stem.channels()];
            match repair {
                Some(r) => r.read(stem, pos, input),
                None => stem.read(pos, input),
            }
            .map_err(Error::Spool)?;
            match stems_out.as_deref_mut() {
                Some(writers) => {
                    let solo = &mut solo[..n * 2];
                    strip.mix_into(input, mix, Some(solo));
                    writers[i].write(solo)?;
                }
                None => strip.mix_into(input, mix, None),
            }
        }
        meter.add_frames_f32(mix).expect("stereo frames");
        bus.write(mix).map_err(Error::Spool)?;
        pos += n as u64;
    }
    let bus = bus.finish().map_err(Error::Spool)?;
    let bus_lufs = meter.loudness_global().ok().filter(|v| v.is_finite());
    master::master(&bus, rate, bus_lufs, &session.master)
}
