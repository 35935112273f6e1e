//! Level: faders set on perceived loudness where each track plays, by role priority.

use super::roles::Role;

/// Where the lead vocal sits before the master brings the mix to its target, LUFS.
/// Leaves headroom on the bus so the limiter only touches peaks.
pub const ANCHOR_LUFS: f64 = -20.0;
/// Faders never go beyond this, dB.
pub const MAX_BOOST_DB: f64 = 40.0;

/// Loudness of a role where it plays, relative to the lead vocal, dB.
///
/// The lead is the loudest element; then kick, snare and bass; then the harmony
/// instruments; pads and effects sit behind.
pub fn role_offset_db(role: Role) -> f64 {
    match role {
        Role::LeadVocal => 0.0,
        Role::Kick | Role::Snare => -3.0,
        Role::Bass => -4.0,
        Role::BackingVocal => -7.0,
        Role::Guitar | Role::Keys => -7.0,
        Role::Synth | Role::Brass => -8.0,
        Role::Tom => -8.0,
        Role::Overhead | Role::Strings => -9.0,
        Role::Percussion | Role::HiHat => -11.0,
        Role::Pad => -12.0,
        Role::Room | Role::Fx => -14.0,
        Role::Other => -8.0,
    }
}

/// A fader decision for one track, with the reason in words when something was unusual.
#[derive(Debug, Clone, PartialEq)]
pub struct Fader {
    /// Fader in dB.
    pub db: f64,
    /// Mute (a silent stem).
    pub mute: bool,
    /// Why, when the rule could not be applied as is.
    pub note: Option<String>,
}

/// Sets a fader per track so that its active loudness lands at the anchor plus its role's
/// offset. Tracks sharing a role share its loudness (n tracks are each 10·log10(n) dB down),
/// so eight tom mics are not eight times as loud as one.
pub fn set_faders(roles: &[Role], active_lufs: &[Option<f64>]) -> Vec<Fader> {
    roles
        .iter()
        .zip(active_lufs)
        .map(|(&role, &active)| {
            let Some(active) = active else {
                return Fader {
                    db: 0.0,
                    mute: true,
                    note: Some("silent stem: muted".into()),
                };
            };
            let share = roles.iter().filter(|&&r| r == role).count() as f64;
            let want = ANCHOR_LUFS + role_offset_db(role) - 10.0 * share.log10();
            let db = want - active;
            if db > MAX_BOOST_DB {
                Fader {
                    db: MAX_BOOST_DB,
                    mute: false,
                    note: Some(format!(
                        "very quiet stem ({active:.1} LUFS): boost limited to {MAX_BOOST_DB} dB"
                    )),
                }
            } else {
                Fader {
                    db,
                    mute: false,
                    note: None,
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faders_cancel_input_gain_errors() {
        let roles = [Role::LeadVocal, Role::Kick, Role::Guitar, Role::Guitar];
        let a = set_faders(
            &roles,
            &[Some(-30.0), Some(-10.0), Some(-25.0), Some(-18.0)],
        );
        let b = set_faders(&roles, &[Some(-18.0), Some(-22.0), Some(-5.0), Some(-40.0)]);
        // Resulting loudness (input + fader) is the same whatever the input level.
        let la: Vec<f64> = a
            .iter()
            .zip([-30.0, -10.0, -25.0, -18.0])
            .map(|(f, l)| f.db + l)
            .collect();
        let lb: Vec<f64> = b
            .iter()
            .zip([-18.0, -22.0, -5.0, -40.0])
            .map(|(f, l)| f.db + l)
            .collect();
        for (x, y) in la.iter().zip(&lb) {
            assert!((x - y).abs() < 1e-9);
        }
        assert!((la[0] - ANCHOR_LUFS).abs() < 1e-9, "lead at the anchor");
        assert!(la[0] > la[1] && la[1] > la[2], "role priority");
        // Two guitars together as loud as one guitar would be.
        let pair = 10.0 * (2.0 * 10f64.powf(la[2] / 10.0)).log10();
        assert!((pair - (ANCHOR_LUFS + role_offset_db(Role::Guitar))).abs() < 1e-9);
    }

    #[test]
    fn silent_is_muted_and_boost_is_bounded() {
        let f = set_faders(&[Role::Pad, Role::Keys], &[None, Some(-90.0)]);
        assert!(f[0].mute && f[0].note.is_some());
        assert_eq!(f[1].db, MAX_BOOST_DB);
    }
}
