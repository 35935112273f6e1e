//! The benchmark harness works end to end on one short song: `bench/run.sh --smoke`
//! builds the 13-second song `smoke` (FluidSynth, espeak-ng, the Python venv), mixes it
//! clean and damaged with this build's binary, makes both baselines and scores all of
//! them. Checked: results.json holds every headline metric for ours and both baselines,
//! and every number in it is finite. Not checked: the scores themselves (BENCHMARKS.md
//! tracks those).
//!
//! Needs `bash bench/setup.sh` (`.ci/run` calls it). Without those tools the test says
//! so and skips; under CI (`CI` set) a missing tool fails it instead.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// What the harness needs that cargo does not provide, or None when all is there.
fn missing_tools(root: &Path) -> Option<String> {
    let mut missing = Vec::new();
    for tool in ["fluidsynth", "espeak-ng", "bash"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            missing.push(tool.to_string());
        }
    }
    if !Path::new("/usr/share/sounds/sf2/FluidR3_GM.sf2").exists() {
        missing.push("fluid-soundfont-gm".into());
    }
    let py = root.join("bench/.venv/bin/python");
    let venv_ok = Command::new(&py)
        .args([
            "-c",
            "import numpy, soundfile, scipy, pyloudnorm, matplotlib",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !venv_ok {
        missing.push(format!("{} with bench/requirements.txt", py.display()));
    }
    (!missing.is_empty()).then(|| missing.join(", "))
}

/// Every number anywhere in `v` is finite (serde_json reads NaN as an error already;
/// this also catches huge sentinels standing in for infinities).
fn assert_finite(v: &Value, path: &str) {
    match v {
        Value::Number(n) => {
            let x = n.as_f64().unwrap();
            assert!(x.is_finite() && x.abs() < 1e12, "{path} = {x}");
        }
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| assert_finite(x, &format!("{path}[{i}]"))),
        Value::Object(o) => o
            .iter()
            .for_each(|(k, x)| assert_finite(x, &format!("{path}.{k}"))),
        _ => {}
    }
}

#[test]
fn smoke_run_scores_every_metric_for_ours_and_both_baselines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if let Some(missing) = missing_tools(root) {
        assert!(
            std::env::var_os("CI").is_none(),
            "benchmark harness cannot run under CI: missing {missing} (.ci/run should run bench/setup.sh)"
        );
        eprintln!(
            "bench_harness: SKIPPED, missing {missing}; run `bash bench/setup.sh` to enable it"
        );
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let status = Command::new("bash")
        .arg(root.join("bench/run.sh"))
        .args(["--smoke", "--bin", env!("CARGO_BIN_EXE_mixwright"), "--out"])
        .arg(out.path())
        .current_dir(root)
        .status()
        .expect("bash runs");
    assert!(status.success(), "bench/run.sh --smoke failed: {status}");

    let text = std::fs::read_to_string(out.path().join("results.json")).unwrap();
    let results: Value = serde_json::from_str(&text).unwrap();
    assert_finite(&results, "results");
    let metrics: Vec<&str> = results["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["key"].as_str().unwrap())
        .collect();
    assert!(
        metrics.len() >= 20,
        "only {} headline metrics",
        metrics.len()
    );
    let songs = results["songs"].as_array().unwrap();
    assert_eq!(songs.len(), 1);
    let song = &songs[0];
    assert_eq!(song["song"], "smoke");
    for method in ["ours", "sum", "faders"] {
        let h = &song["headline"][method];
        for key in &metrics {
            // The word recogniser runs only with --asr; every other metric has a value.
            if *key == "asr" {
                continue;
            }
            assert!(
                h[key].is_number(),
                "{method}: metric {key} missing or not a number: {}",
                h[key]
            );
        }
    }
    // The clean-stem mix has every metric that does not need damage.
    for key in [
        "loudness_error",
        "balance",
        "aud_loud",
        "aud_quiet",
        "sii_median",
        "spectrum",
    ] {
        assert!(
            song["headline"]["ours_clean"][key].is_number(),
            "ours_clean: {key}"
        );
    }
    assert!(out.path().join("scores.svg").exists());
}
