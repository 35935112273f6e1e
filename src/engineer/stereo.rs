//! Stereo image: where each track sits between the speakers.

use std::collections::BTreeMap;

use super::roles::Role;

/// Corner of the low-end mono, Hz: the side is 16 dB down at 120 Hz and 28 dB down at
/// 100 Hz, so bass and kick energy plays from both speakers alike (cutting a record, a
/// club system, a phone held sideways), while the image of the low mids stays.
pub const MONO_BELOW_HZ: f64 = 150.0;

/// A pan decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    /// −1 (left) … +1 (right).
    pub pan: f64,
    /// Width of a stereo source (1 = as recorded).
    pub width: f64,
}

/// How far apart a group of same-role mono tracks is spread (double-tracked guitars wide,
/// toms across the kit, backing vocals around the lead).
fn group_spread(role: Role) -> f64 {
    match role {
        Role::Guitar => 0.8,
        Role::Tom => 0.6,
        Role::BackingVocal => 0.6,
        Role::Overhead | Role::Room => 1.0,
        _ => 0.5,
    }
}

/// Places tracks: the low end and the focus (kick, snare, bass, lead) centred; stereo
/// stems kept stereo as recorded; same-role mono groups spread symmetrically; the remaining
/// single mono tracks alternate left and right at growing distances, so that the two sides
/// carry the same number of parts at matching positions.
pub fn place(roles: &[Role], channels: &[usize]) -> Vec<Placement> {
    let mut out = vec![
        Placement {
            pan: 0.0,
            width: 1.0
        };
        roles.len()
    ];
    let mut groups: BTreeMap<Role, Vec<usize>> = BTreeMap::new();
    for (i, (&role, &ch)) in roles.iter().zip(channels).enumerate() {
        if !role.is_centred() && ch == 1 {
            groups.entry(role).or_default().push(i);
        }
    }
    let mut singles = Vec::new();
    for (role, members) in groups {
        if members.len() == 1 {
            singles.push(members[0]);
            continue;
        }
        let spread = group_spread(role);
        let last = (members.len() - 1) as f64;
        for (k, &i) in members.iter().enumerate() {
            out[i].pan = spread * (-1.0 + 2.0 * k as f64 / last);
        }
    }
    let unpaired = singles.len() % 2 == 1;
    for (k, &i) in singles.iter().enumerate() {
        let side = if k % 2 == 0 { -1.0 } else { 1.0 };
        let distance = if unpaired && k == singles.len() - 1 {
            // A part without a partner stays near the middle so it cannot tip the balance.
            0.15
        } else {
            (0.35 + 0.15 * (k / 2) as f64).min(0.8)
        };
        out[i].pan = side * distance;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centred_roles_stay_centred_and_sides_balance() {
        let roles = [
            Role::Kick,
            Role::Snare,
            Role::Bass,
            Role::LeadVocal,
            Role::Guitar,
            Role::Guitar,
            Role::Keys,
            Role::Synth,
            Role::Pad,
            Role::HiHat,
            Role::Percussion,
        ];
        let channels = [1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1];
        let p = place(&roles, &channels);
        for i in 0..4 {
            assert_eq!(p[i].pan, 0.0);
        }
        assert_eq!(p[8].pan, 0.0, "stereo pad kept as recorded");
        assert!(
            (p[4].pan + p[5].pan).abs() < 1e-12 && p[4].pan < -0.5,
            "double-tracked pair wide"
        );
        let sum: f64 = p.iter().map(|x| x.pan).sum();
        assert!(sum.abs() < 1e-12, "equal weight left and right: {sum}");
        assert!(p.iter().all(|x| (-1.0..=1.0).contains(&x.pan)));
    }
}
