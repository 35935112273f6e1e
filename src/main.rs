//! The `mixwright` command: argument parsing, progress and exit codes. All the work is in
//! the library.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use mixwright::engineer::master::Target;
use mixwright::io::write::OutputFormat;
use mixwright::report::MixSummary;
use mixwright::session::Session;
use mixwright::{Error, MixOptions, Progress};

#[derive(Parser)]
#[command(
    name = "mixwright",
    version,
    about = "An automatic mix engineer: stems in, a release-ready stereo mix out."
)]
struct Cli {
    /// No progress bar.
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Mix stems (a folder, or files) into a stereo file.
    Mix {
        /// A folder of stems, or stem files.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// The mix file (.wav or .flac).
        #[arg(short, long)]
        output: PathBuf,
        /// streaming (−14 LUFS), apple (−16), ebu (−23), club (−9), or a number in LUFS.
        #[arg(long, default_value = "streaming", allow_hyphen_values = true)]
        target: String,
        /// Write the session (every decision) to this JSON file.
        #[arg(long)]
        session: Option<PathBuf>,
        /// Write an HTML report (not available yet).
        #[arg(long)]
        report: Option<PathBuf>,
        /// Write each stem's contribution to the mix bus into this folder.
        #[arg(long)]
        stems_out: Option<PathBuf>,
        /// wav16, wav24, wav32f, flac16 or flac24 (default from the extension: 24-bit).
        #[arg(long)]
        format: Option<String>,
        /// Session sample rate in Hz (default: the most common input rate).
        #[arg(long)]
        rate: Option<u32>,
        /// Print a machine-readable summary on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Render a saved session again.
    Render {
        /// The session file.
        session: PathBuf,
        /// The mix file.
        #[arg(short, long)]
        output: PathBuf,
        /// wav16, wav24, wav32f, flac16 or flac24.
        #[arg(long)]
        format: Option<String>,
        /// Write each stem's contribution to the mix bus into this folder.
        #[arg(long)]
        stems_out: Option<PathBuf>,
    },
    /// Mix every song in a folder of song folders (resumable; a bad song does not stop it).
    Batch {
        /// A folder whose subfolders each hold one song's stems.
        root: PathBuf,
        /// Folder for `<song>.wav` (or .flac) and `<song>.session.json`.
        #[arg(short, long)]
        output: PathBuf,
        /// streaming (−14 LUFS), apple (−16), ebu (−23), club (−9), or a number in LUFS.
        #[arg(long, default_value = "streaming", allow_hyphen_values = true)]
        target: String,
        /// wav16, wav24, wav32f, flac16 or flac24 (default wav24).
        #[arg(long, default_value = "wav24")]
        format: String,
        /// Session sample rate in Hz (default: each song's most common input rate).
        #[arg(long)]
        rate: Option<u32>,
        /// Mix songs again even when their outputs are complete.
        #[arg(long)]
        force: bool,
        /// Songs mixed at once (default: from the cores and the available memory).
        #[arg(long)]
        jobs: Option<usize>,
    },
    /// Find and fix what is wrong with one recording (DC, rumble, hum, noise, clicks,
    /// clipping, bleed on close drum mics); writes the repaired file.
    Repair {
        /// The recording.
        file: PathBuf,
        /// The repaired file (.wav: 32-bit float; .flac: 24-bit).
        #[arg(short, long)]
        output: PathBuf,
        /// wav16, wav24, wav32f, flac16 or flac24.
        #[arg(long)]
        format: Option<String>,
        /// Apply these repairs (a JSON file holding a session strip's `repair` section)
        /// instead of deciding from the analysis.
        #[arg(long)]
        settings: Option<PathBuf>,
    },
    /// Measure files: loudness, loudness range, peaks, format.
    Analyze {
        /// Audio files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print JSON on stdout.
        #[arg(long)]
        json: bool,
    },
}

/// A progress bar on the terminal; nothing when output is piped or `--quiet`.
struct Bar(ProgressBar);

impl Bar {
    fn new(quiet: bool) -> Bar {
        if quiet || !std::io::stdout().is_terminal() {
            return Bar(ProgressBar::hidden());
        }
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} {elapsed}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        Bar(bar)
    }
}

impl Progress for Bar {
    fn stage(&self, name: &str, total: u64) {
        self.0.set_message(name.to_string());
        self.0.set_length(total);
        self.0.set_position(0);
    }
    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
}

fn output_format(format: Option<&str>, output: &Path) -> Result<OutputFormat, Error> {
    match format {
        Some(f) => Ok(OutputFormat::parse(f)?),
        None => OutputFormat::from_extension(output).ok_or_else(|| {
            Error::Usage(format!(
                "{}: cannot tell the format from the extension; use .wav or .flac, or --format",
                output.display()
            ))
        }),
    }
}

fn fmt_opt(v: Option<f64>, unit: &str) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.2} {unit}"))
}

/// Playback levels at which `analyze` reports masking: loud monitoring and quiet listening.
const MASKING_SPL: [f64; 2] = [85.0, 60.0];

/// When several files are analysed together they are taken as stems of one song at unity
/// gain: how audible each is among the others, at each of [`MASKING_SPL`].
fn analyze_masking(
    results: &[(
        mixwright::io::decode::StemInfo,
        u64,
        mixwright::analysis::TrackAnalysis,
    )],
) -> Option<Vec<(f64, Vec<mixwright::analysis::masking::TrackAudibility>)>> {
    if results.len() < 2 {
        return None;
    }
    let frames: Vec<_> = results.iter().map(|(_, _, a)| &a.spectrum.frames).collect();
    let gains = vec![0.0; frames.len()];
    MASKING_SPL
        .iter()
        .map(|&spl| {
            mixwright::analysis::masking::audibility(&frames, &gains, spl)
                .ok()
                .map(|r| (spl, r))
        })
        .collect()
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let bar = Bar::new(cli.quiet);
    match cli.command {
        Command::Mix {
            inputs,
            output,
            target,
            session,
            report,
            stems_out,
            format,
            rate,
            json,
        } => {
            if report.is_some() {
                return Err(
                    Error::Usage("--report is not available yet in this version".into()).into(),
                );
            }
            check_rate(rate)?;
            let opts = MixOptions {
                target: Target::parse(&target)?,
                rate,
                format: output_format(format.as_deref(), &output)?,
                session_out: session,
                stems_out,
            };
            let result = mixwright::mix(&inputs, &output, &opts, &bar)?;
            bar.0.finish_and_clear();
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&MixSummary::new(&result))?
                );
            } else {
                let m = &result.render.master;
                println!(
                    "{}: {} tracks, {}, true peak {}, LRA {}",
                    result.render.output.display(),
                    result.session.tracks.len(),
                    fmt_opt(m.integrated_lufs, "LUFS"),
                    fmt_opt(m.true_peak_dbtp, "dBTP"),
                    fmt_opt(m.lra_lu, "LU"),
                );
            }
            for w in &result.warnings {
                eprintln!("warning: {w}");
            }
        }
        Command::Render {
            session,
            output,
            format,
            stems_out,
        } => {
            let s = Session::load(&session)?;
            let format = output_format(format.as_deref(), &output)?;
            let r = mixwright::render(&s, &output, format, stems_out.as_deref(), &bar)?;
            bar.0.finish_and_clear();
            println!(
                "{}: {}, true peak {}",
                r.output.display(),
                fmt_opt(r.master.integrated_lufs, "LUFS"),
                fmt_opt(r.master.true_peak_dbtp, "dBTP")
            );
        }
        Command::Batch {
            root,
            output,
            target,
            format,
            rate,
            force,
            jobs,
        } => return batch(&root, &output, &target, &format, rate, force, jobs, &bar),
        Command::Repair {
            file,
            output,
            format,
            settings,
        } => {
            let format = format.as_deref().map(OutputFormat::parse).transpose()?;
            let settings = match settings {
                Some(p) => {
                    let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
                    let r: mixwright::session::Repair =
                        serde_json::from_str(&text).map_err(|e| {
                            Error::Usage(format!("{}: not a repair section: {e}", p.display()))
                        })?;
                    Some(r)
                }
                None => None,
            };
            let r = mixwright::repair_file(&file, &output, format, settings.as_ref(), &bar)?;
            bar.0.finish_and_clear();
            println!("{}: found {}", file.display(), r.problems.summary());
            if r.notes.is_empty() {
                println!("  nothing to repair: samples copied unchanged");
            }
            for n in &r.notes {
                println!("  {n}");
            }
            println!("{}: written", r.output.display());
        }
        Command::Analyze { files, json } => {
            let results = mixwright::analyze_files(&files, &bar)?;
            bar.0.finish_and_clear();
            let masking = analyze_masking(&results);
            // Several files: which of them captured the same source.
            let relations = if files.len() > 1 {
                Some(mixwright::relate_files(&files, &mixwright::Quiet)?)
            } else {
                None
            };
            let related = |i: usize| {
                relations.as_ref().map(|(rate, rel)| {
                    rel.iter()
                        .filter(|r| r.a == i || r.b == i)
                        .map(|r| {
                            // Lags of this file after the other one.
                            let (other, sign) = if r.a == i { (r.b, -1) } else { (r.a, 1) };
                            (other, *rate, r, sign)
                        })
                        .collect::<Vec<_>>()
                })
            };
            if json {
                let role_features = results
                    .iter()
                    .map(|(_, _, a)| mixwright::analysis::role::features(a))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(Error::Spool)?;
                let v: Vec<_> = results
                    .iter()
                    .zip(role_features)
                    .enumerate()
                    .map(|(i, ((info, frames, a), role_features))| {
                        let s = &a.spectrum;
                        serde_json::json!({
                            "file": info.path.display().to_string(),
                            "sample_rate": info.sample_rate,
                            "channels": info.channels,
                            "codec": info.codec,
                            "duration_s": *frames as f64 / info.sample_rate as f64,
                            "integrated_lufs": a.loudness.integrated_lufs,
                            "lra_lu": a.loudness.lra_lu,
                            "true_peak_dbtp": a.loudness.true_peak_dbtp,
                            "sample_peak_dbfs": a.loudness.sample_peak_dbfs,
                            "active_lufs": a.loudness.active_lufs,
                            "active_fraction": a.loudness.active_fraction,
                            "activity": a.activity,
                            "problems": a.problems,
                            "tempo_bpm": a.tempo.map(|t| t.bpm),
                            "tempo_strength": a.tempo.map(|t| t.strength),
                            "role_guess": a.role_guess,
                            "bleed": a.bleed,
                            "role_features": role_features.map(|f| {
                                mixwright::analysis::role::FEATURES
                                    .iter()
                                    .zip(f)
                                    .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
                                    .collect::<serde_json::Map<_, _>>()
                            }),
                            "spectrum": {
                                "third_octave_db": s.third_octave_db,
                                "erb_db": s.erb_db,
                                "centroid_hz": s.centroid_hz,
                                "tilt_db_per_octave": s.tilt_db_per_octave,
                                "low_share": s.low_share,
                                "stereo": s.stereo,
                            },
                            "related": related(i).map(|rel| {
                                rel.iter()
                                    .map(|(other, rate, r, sign)| {
                                        serde_json::json!({
                                            "file": results[*other].0.path.display().to_string(),
                                            "index": other,
                                            "correlation": r.correlation,
                                            "polarity_inverted": r.polarity_inverted,
                                            "lag_samples": sign * r.lag_samples,
                                            "lag_ms": *sign as f64 * r.lag_ms,
                                            "sample_rate": rate,
                                        })
                                    })
                                    .collect::<Vec<_>>()
                            }),
                            "masking": masking.as_ref().map(|m| {
                                m.iter()
                                    .map(|(spl, r)| {
                                        serde_json::json!({
                                            "playback_spl": spl,
                                            "share_unmasked": r[i].share_unmasked,
                                            "mean_audible_share": r[i].mean_audible_share,
                                            "band_smr_db": r[i].band_smr_db,
                                        })
                                    })
                                    .collect::<Vec<_>>()
                            }),
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for (i, (info, frames, a)) in results.iter().enumerate() {
                    let l = &a.loudness;
                    println!(
                        "{}: {} Hz, {} ch, {:.2} s, integrated {}, LRA {}, true peak {}, sample peak {}",
                        info.path.display(),
                        info.sample_rate,
                        info.channels,
                        *frames as f64 / info.sample_rate as f64,
                        fmt_opt(l.integrated_lufs, "LUFS"),
                        fmt_opt(l.lra_lu, "LU"),
                        fmt_opt(l.true_peak_dbtp, "dBTP"),
                        fmt_opt(l.sample_peak_dbfs, "dBFS"),
                    );
                    let s = &a.spectrum;
                    let mut line = format!(
                        "  spectrum: centroid {}, tilt {}, below 120 Hz {}",
                        fmt_opt(s.centroid_hz, "Hz"),
                        fmt_opt(s.tilt_db_per_octave, "dB/oct"),
                        fmt_opt(s.low_share.map(|x| 100.0 * x), "%"),
                    );
                    if let Some(st) = &s.stereo {
                        line += &format!(
                            "; stereo: correlation {}, balance {}, side/mid {}",
                            st.correlation.map_or("-".into(), |c| format!("{c:.2}")),
                            fmt_opt(st.balance_db, "dB"),
                            fmt_opt(st.side_to_mid_db, "dB"),
                        );
                    }
                    println!("{line}");
                    println!(
                        "  playing {:.0} % in {} segments; problems: {}",
                        100.0 * a.activity.fraction,
                        a.activity.playing.len(),
                        a.problems.summary()
                    );
                    for (other, _, r, sign) in related(i).unwrap_or_default() {
                        println!(
                            "  same source as {}: correlation {:.2}{}, {:+.3} ms",
                            results[other].0.path.display(),
                            r.correlation,
                            if r.polarity_inverted {
                                ", polarity inverted"
                            } else {
                                ""
                            },
                            sign as f64 * r.lag_ms,
                        );
                    }
                    if let Some(m) = &masking {
                        let shares: Vec<String> = m
                            .iter()
                            .map(|(spl, r)| {
                                let share = r[i].share_unmasked.map(|x| 100.0 * x);
                                format!("{} at {spl} dB SPL", fmt_opt(share, "%"))
                            })
                            .collect();
                        println!("  unmasked by the other files: {}", shares.join(", "));
                    }
                }
            }
        }
    }
    Ok(())
}

/// `mixwright batch`: mixes every song, then lists the failures; exit status 2 if any.
#[allow(clippy::too_many_arguments)]
fn batch(
    root: &Path,
    output: &Path,
    target: &str,
    format: &str,
    rate: Option<u32>,
    force: bool,
    jobs: Option<usize>,
    bar: &Bar,
) -> anyhow::Result<()> {
    use mixwright::batch::SongStatus;
    check_rate(rate)?;
    let opts = mixwright::BatchOptions {
        target: Target::parse(target)?,
        rate,
        format: OutputFormat::parse(format)?,
        force,
        jobs,
    };
    let report = mixwright::batch(root, output, &opts, bar)?;
    bar.0.finish_and_clear();
    for n in &report.notes {
        eprintln!("note: {n}");
    }
    for s in &report.songs {
        match &s.status {
            SongStatus::Mixed {
                integrated_lufs,
                true_peak_dbtp,
                warnings,
            } => {
                println!(
                    "{}: mixed to {}, {}, true peak {}",
                    s.name,
                    s.output.display(),
                    fmt_opt(*integrated_lufs, "LUFS"),
                    fmt_opt(*true_peak_dbtp, "dBTP")
                );
                for w in warnings {
                    eprintln!("warning: {}: {w}", s.name);
                }
            }
            SongStatus::Skipped => println!("{}: already done, skipped", s.name),
            SongStatus::Failed(_) => println!("{}: FAILED", s.name),
        }
    }
    let failed: Vec<_> = report.failed().collect();
    if failed.is_empty() {
        return Ok(());
    }
    for s in &failed {
        if let SongStatus::Failed(e) = &s.status {
            eprintln!("mixwright: song {} failed: {e}", s.name);
        }
    }
    Err(Error::Usage(format!(
        "{} of {} songs failed",
        failed.len(),
        report.songs.len()
    ))
    .into())
}

fn check_rate(rate: Option<u32>) -> Result<(), Error> {
    match rate {
        Some(r) if !(8_000..=192_000).contains(&r) => {
            Err(Error::Usage(format!("--rate {r} is outside 8000..=192000")))
        }
        _ => Ok(()),
    }
}

/// Every track keeps a few spools open (its audio, band frames, feature curves), so a
/// session of a few hundred tracks needs more than the common default of 1024 descriptors:
/// the soft limit is raised to the hard one. If that fails, a session too large for the
/// limit stops with the temporary-storage error ("Too many open files"), not a panic.
fn raise_open_file_limit() {
    #[cfg(unix)]
    // SAFETY: getrlimit/setrlimit with a valid, initialised rlimit struct.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// glibc's malloc raises its mmap threshold each time a large block is freed (up to 32 MB),
/// after which large buffers are carved from the per-thread heaps instead, and the holes they
/// leave stay resident: peak RSS then grew with the song (8 tracks, 3 → 15 minutes: +5.8 MB,
/// for +0.4 MB of peak heap). A fixed threshold (glibc's initial 128 kB) keeps every large
/// buffer in its own mapping, handed back to the system when freed.
fn fix_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

fn main() -> ExitCode {
    // A reader that stops early (`mixwright analyze --json | head`) ends us quietly, as it
    // does any Unix filter, instead of a panic in println!. Outputs are renamed into place
    // before anything is printed, so nothing is left half-written.
    #[cfg(unix)]
    // SAFETY: called first in main, before any thread exists; SIG_DFL is a valid action.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    fix_mmap_threshold();
    raise_open_file_limit();
    let cli = Cli::parse();
    if let Err(e) = mixwright::io::interrupt::install() {
        eprintln!("mixwright: warning: cannot watch for interruption: {e}");
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mixwright: error: {e}");
            let code = e.downcast_ref::<Error>().map_or(1, Error::exit_code);
            ExitCode::from(code as u8)
        }
    }
}
