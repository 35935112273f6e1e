//! Speech Intelligibility Index: ANSI S3.5-1997, one-third-octave band procedure (Table 3).
//!
//! The lead is the speech, the rest of the mix the noise. Per band *i* (18 bands,
//! 160 Hz–8 kHz), from the equivalent speech spectrum level E′ᵢ and noise spectrum level
//! N′ᵢ (dB SPL per Hz):
//! 1. self-speech masking Vᵢ = E′ᵢ − 24 and Bᵢ = max(N′ᵢ, Vᵢ);
//! 2. slope of the upward spread of masking Cᵢ = −80 + 0.6·(Bᵢ + 10·lg Fᵢ − 6.353);
//! 3. equivalent masking spectrum level
//!    Zᵢ = 10·lg[10^(N′ᵢ/10) + Σₖ<ᵢ 10^((Bₖ + 3.32·Cₖ·lg(0.89·Fᵢ/Fₖ))/10)];
//! 4. disturbance Dᵢ = max(Zᵢ, Xᵢ + T′ᵢ), Xᵢ the reference internal noise (the hearing
//!    threshold as a noise floor; T′ᵢ = 0 dB HL, a normal listener);
//! 5. level distortion Lᵢ = min(1, 1 − (E′ᵢ − Uᵢ − 10)/160), Uᵢ normal-effort speech;
//! 6. band audibility Kᵢ = clamp((E′ᵢ − Dᵢ + 15)/30, 0, 1);
//! 7. SII = Σ Iᵢ·Lᵢ·Kᵢ with the band importance Iᵢ of average speech.
//!
//! The engineer evaluates it per 400 ms frame on the analysis band frames of the tracks
//! (`engineer::words`), calibrated to a playback level, so at the quiet level the hearing
//! threshold limits the soft consonants.

use crate::analysis::spectrum::{THIRD_OCTAVE_BANDS, third_octave_band};

/// Bands of the procedure.
pub const SII_BANDS: usize = 18;
/// Third-octave band index (of the 31 analysis bands from 20 Hz) of the first SII band, 160 Hz.
pub const FIRST_BAND: usize = 9;

/// Band centres, Hz (Table 3).
pub const CENTRE_HZ: [f64; SII_BANDS] = [
    160.0, 200.0, 250.0, 315.0, 400.0, 500.0, 630.0, 800.0, 1000.0, 1250.0, 1600.0, 2000.0, 2500.0,
    3150.0, 4000.0, 5000.0, 6300.0, 8000.0,
];
/// Band importance Iᵢ, average speech (Table 3); sums to 1.
pub const IMPORTANCE: [f64; SII_BANDS] = [
    0.0083, 0.0095, 0.0150, 0.0289, 0.0440, 0.0578, 0.0653, 0.0711, 0.0818, 0.0844, 0.0882, 0.0898,
    0.0868, 0.0844, 0.0771, 0.0527, 0.0364, 0.0185,
];
/// Standard speech spectrum level Uᵢ at normal vocal effort, dB SPL per Hz (Table 3).
pub const SPEECH_NORMAL_DB: [f64; SII_BANDS] = [
    32.41, 34.48, 34.75, 33.98, 34.59, 34.27, 32.06, 28.30, 25.01, 23.00, 20.15, 17.32, 13.18,
    11.55, 9.33, 5.31, 2.59, 1.13,
];
/// Reference internal noise spectrum level Xᵢ, dB SPL per Hz (Table 3).
pub const INTERNAL_NOISE_DB: [f64; SII_BANDS] = [
    0.6, -1.7, -3.9, -6.1, -8.2, -9.7, -10.8, -11.9, -12.5, -13.5, -15.4, -17.7, -21.2, -24.2,
    -25.9, -23.6, -15.8, -7.1,
];

/// SII of one frame from spectrum levels (dB SPL per Hz) of the speech and the noise.
pub fn sii(speech_db: &[f64; SII_BANDS], noise_db: &[f64; SII_BANDS]) -> f64 {
    let b: [f64; SII_BANDS] = std::array::from_fn(|i| noise_db[i].max(speech_db[i] - 24.0));
    let c: [f64; SII_BANDS] =
        std::array::from_fn(|i| -80.0 + 0.6 * (b[i] + 10.0 * CENTRE_HZ[i].log10() - 6.353));
    let power = |db: f64| (db * std::f64::consts::LN_10 / 10.0).exp();
    let mut total = 0.0;
    for i in 0..SII_BANDS {
        let mut z = power(noise_db[i]);
        // Spread terms 30 dB under what already sets the disturbance cannot change it by
        // more than 0.07 dB all together: skipped (the engineer calls this in a search).
        let floor = noise_db[i].max(INTERNAL_NOISE_DB[i]) - 30.0;
        for k in 0..i {
            let spread = b[k] + 3.32 * c[k] * (0.89 * CENTRE_HZ[i] / CENTRE_HZ[k]).log10();
            if spread > floor {
                z += power(spread);
            }
        }
        let z = 10.0 * z.max(1e-30).log10();
        let d = z.max(INTERNAL_NOISE_DB[i]);
        let l = (1.0 - (speech_db[i] - SPEECH_NORMAL_DB[i] - 10.0) / 160.0).min(1.0);
        let k = ((speech_db[i] - d + 15.0) / 30.0).clamp(0.0, 1.0);
        total += IMPORTANCE[i] * l * k;
    }
    total.clamp(0.0, 1.0)
}

/// 10·lg of each SII band's width (one third of an octave): band level minus this is the
/// spectrum level the procedure works on.
pub fn bandwidth_db() -> [f64; SII_BANDS] {
    std::array::from_fn(|i| {
        let b = third_octave_band(FIRST_BAND + i);
        10.0 * (b.high_hz - b.low_hz).log10()
    })
}

const _: () = assert!(FIRST_BAND + SII_BANDS <= THIRD_OCTAVE_BANDS);

#[cfg(test)]
mod tests {
    use super::*;

    /// Speech at the standard normal-effort spectrum plus `gain` dB, in speech-shaped noise
    /// at `snr` dB below it.
    fn at(gain: f64, snr: f64) -> f64 {
        let speech = SPEECH_NORMAL_DB.map(|u| u + gain);
        let noise = SPEECH_NORMAL_DB.map(|u| u + gain - snr);
        sii(&speech, &noise)
    }

    #[test]
    fn importance_sums_to_one() {
        assert!((IMPORTANCE.iter().sum::<f64>() - 1.0).abs() < 1e-3);
    }

    #[test]
    fn quiet_room_speech_is_fully_intelligible() {
        // Normal-effort speech (62 dB SPL overall) with no noise: the standard's SII ≈ 1.
        let s = sii(&SPEECH_NORMAL_DB, &[-100.0; SII_BANDS]);
        assert!(s > 0.97, "{s}");
        // Speech 15 dB under the threshold of hearing is not.
        let faint = sii(&SPEECH_NORMAL_DB.map(|u| u - 65.0), &[-100.0; SII_BANDS]);
        assert!(faint < 0.05, "{faint}");
    }

    #[test]
    fn follows_the_snr_in_speech_shaped_noise() {
        let low = at(0.0, -15.0);
        assert!(low < 0.03, "−15 dB SNR: {low}");
        // At 0 dB SNR, speech-shaped noise leaves about 15 of the 30 dB range in every
        // band, less the upward spread of masking: the standard's ~0.35–0.5.
        let even = at(0.0, 0.0);
        assert!((0.35..=0.5).contains(&even), "0 dB SNR: {even}");
        let mut last = -1.0;
        for snr in (-20..=20).map(|x| x as f64) {
            let s = at(0.0, snr);
            assert!(s >= last - 1e-12, "not monotone at {snr} dB: {s} < {last}");
            last = s;
        }
        assert!(at(0.0, 20.0) > 0.95);
    }

    #[test]
    fn shouting_loses_to_level_distortion() {
        // The same SNR, 30 dB above normal effort: Lᵢ takes some of it away.
        assert!(at(30.0, 10.0) < at(0.0, 10.0) - 0.05);
    }
}
