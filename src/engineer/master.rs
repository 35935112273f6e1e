//! The master: where the delivered mix must land.

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// A delivery target: integrated loudness and true-peak ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// Integrated loudness, LUFS.
    pub lufs: f64,
    /// True-peak ceiling, dBTP.
    pub ceiling_dbtp: f64,
}

impl Target {
    /// The default: streaming services (−14 LUFS, −1 dBTP).
    pub const STREAMING: Target = Target {
        lufs: -14.0,
        ceiling_dbtp: -1.0,
    };

    /// Parses a preset (`streaming`, `apple`, `ebu`, `club`) or a number in LUFS
    /// (−40 … −5; the ceiling is then −1 dBTP).
    pub fn parse(s: &str) -> Result<Target, Error> {
        let t = |lufs, ceiling_dbtp| Ok(Target { lufs, ceiling_dbtp });
        match s.to_ascii_lowercase().as_str() {
            "streaming" => t(-14.0, -1.0),
            "apple" => t(-16.0, -1.0),
            "ebu" => t(-23.0, -1.0),
            "club" => t(-9.0, -0.3),
            other => match other.trim_end_matches("lufs").trim().parse::<f64>() {
                Ok(v) if (-40.0..=-5.0).contains(&v) => t(v, -1.0),
                Ok(v) => Err(Error::Usage(format!(
                    "--target {v} LUFS is outside -40..-5"
                ))),
                Err(_) => Err(Error::Usage(format!(
                    "--target {s:?}: expected streaming, apple, ebu, club or a number in LUFS"
                ))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_and_numbers() {
        assert_eq!(Target::parse("streaming").unwrap(), Target::STREAMING);
        assert_eq!(Target::parse("Club").unwrap().ceiling_dbtp, -0.3);
        assert_eq!(Target::parse("ebu").unwrap().lufs, -23.0);
        assert_eq!(Target::parse("-18").unwrap().lufs, -18.0);
        assert_eq!(Target::parse("-12.5LUFS").unwrap().lufs, -12.5);
        assert!(Target::parse("0").is_err());
        assert!(Target::parse("loud").is_err());
    }
}
