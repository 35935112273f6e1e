//! Pan laws.

use std::f64::consts::FRAC_PI_4;

/// Constant-power (−3 dB centre) pan of a mono source: `pan` in −1 (left) … +1 (right).
/// Returns (left, right) gains; left² + right² = 1, so loudness does not change with position.
pub fn constant_power(pan: f64) -> (f64, f64) {
    let theta = (pan.clamp(-1.0, 1.0) + 1.0) * FRAC_PI_4;
    (theta.cos(), theta.sin())
}

/// Balance of a stereo source: unity at centre, the far side fades out linearly.
pub fn balance(pan: f64) -> (f64, f64) {
    let p = pan.clamp(-1.0, 1.0);
    ((1.0 - p).min(1.0), (1.0 + p).min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_power_keeps_energy() {
        for i in 0..=20 {
            let p = -1.0 + i as f64 * 0.1;
            let (l, r) = constant_power(p);
            assert!((l * l + r * r - 1.0).abs() < 1e-12);
        }
        let (l, r) = constant_power(0.0);
        assert!((l - r).abs() < 1e-12);
        assert!(constant_power(-1.0).1.abs() < 1e-12);
    }

    #[test]
    fn balance_is_unity_at_centre() {
        assert_eq!(balance(0.0), (1.0, 1.0));
        assert_eq!(balance(1.0), (0.0, 1.0));
        assert_eq!(balance(-0.5), (1.0, 0.5));
    }
}
