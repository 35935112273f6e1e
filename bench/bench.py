#!/usr/bin/env python3
"""Mix every corpus song with mixwright and two baselines, score them, write the results.

Per song, from ``<corpus>/<song>/``:

* **ours**: ``mixwright mix damaged/ --stems-out … --session … --json`` (and the same on
  ``stems/``, the clean stems, as **ours (clean)**);
* **sum**: the damaged stems resampled to 44.1 kHz, mono ones centred with the
  constant-power law, simply summed;
* **faders**: the same after equal-loudness faders (every stem's gated BS.1770 loudness
  brought to the same value).

Both baselines are loudness-normalised to the target (−14 LUFS) by one gain and
nothing else: no limiter, so their true peak is whatever the gain gives (the point of
the comparison: what a mix engineer adds over gain). Each is also made from the clean
stems, only to measure its consistency.

Writes ``<out>/results.json`` (every metric, per song and method, plus averages),
``<out>/scores.svg`` and, with ``--benchmarks FILE``, the tables between the
``<!-- results:begin -->`` and ``<!-- results:end -->`` markers of that file.

Usage: ``bench/.venv/bin/python bench/bench.py [--corpus DIR] [--songs a,b] [--out DIR]
[--bin target/release/mixwright] [--jobs 2] [--asr] [--benchmarks BENCHMARKS.md]
[--svg-copy docs/benchmark-scores.svg]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import audio  # noqa: E402
import score  # noqa: E402

TARGET_LUFS = -14.0
CEILING_DBTP = -1.0
#: Loudness every stem is brought to by the equal-loudness faders (before normalising).
FADER_LUFS = -24.0

METHODS = ("ours", "ours_clean", "sum", "faders")
METHOD_LABEL = {"ours": "ours (damaged)", "ours_clean": "ours (clean stems)",
                "sum": "sum", "faders": "equal faders", "reference": "reference mix"}
#: Table columns: the reference mix is shown where it has a value (the stereo metrics),
#: since a mono baseline trivially "wins" those.
COLUMNS = METHODS + ("reference",)


# ------------------------------------------------------------------ mixing


def run_mixwright(binary: Path, stems: Path, out: Path, target: float) -> dict:
    """``mixwright mix`` with stems-out, session and JSON; returns the JSON summary."""
    out.mkdir(parents=True, exist_ok=True)
    so = out / "stems-out"
    if so.exists():
        shutil.rmtree(so)
    cmd = [str(binary), "mix", str(stems), "-o", str(out / "mix.wav"), "--stems-out", str(so),
           "--session", str(out / "session.json"), "--target", str(target), "--json", "-q"]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()}")
    (out / "mix.json").write_text(p.stdout)
    summary = json.loads(p.stdout)
    summary["_seconds"] = time.monotonic() - t0
    return summary


def load_inputs(song: dict, folder: str) -> dict[str, np.ndarray]:
    """The stems of ``stems/`` or ``damaged/`` at 44.1 kHz, as heard on a bus."""
    frames = song["ref"]["frames"]
    d = song["dir"] / folder
    return {score.stem_name(p.name): score.stereo(score.read_at(p, frames))
            for p in sorted(d.iterdir()) if p.is_file() and not p.name.startswith(".")}


def baseline(inputs: dict[str, np.ndarray], faders: bool) -> tuple[np.ndarray, dict]:
    """Sum (optionally after equal-loudness faders), normalised to the target by gain."""
    contribs = {}
    for k, x in inputs.items():
        g = 1.0
        if faders:
            lk = score.loudness(x)
            g = audio.db_to_gain(FADER_LUFS - lk) if math.isfinite(lk) else 1.0
        contribs[k] = x * g
    mix = sum(contribs.values())
    g = audio.db_to_gain(TARGET_LUFS - score.loudness(mix))
    return mix * g, {k: v * g for k, v in contribs.items()}


def relative_loudness(song: dict, mix: np.ndarray, contribs: dict) -> dict:
    """Only the balance part of a score (what consistency needs)."""
    lufs = score.loudness(mix)
    return {"balance": {"rel_lu": {score.stem_name(n): score.finite(score.loudness(contribs[score.stem_name(n)]) - lufs)
                                   for n in song["ref"]["stems"]}}}


def bench_song(args) -> dict:
    song_dir, out_dir, binary, asr = args
    t0 = time.monotonic()
    song = score.load_song(song_dir)
    frames = song["ref"]["frames"]
    name = song["ref"]["song"]
    res = {"song": name, "style": song["ref"]["style"], "stems": len(song["ref"]["stems"]),
           "duration_s": song["ref"]["duration_s"], "methods": {}}
    m = res["methods"]

    # Ours, clean and damaged.
    for kind, folder, key in (("clean", "stems", "ours_clean"), ("damaged", "damaged", "ours")):
        od = out_dir / "mixes" / name / key
        summary = run_mixwright(binary, song_dir / folder, od, TARGET_LUFS)
        mix = score.read_at(od / "mix.wav", frames)
        contribs = score.scale_to_mix(mix, score.read_contributions(od / "stems-out", frames))
        m[key] = score.score_mix(song, mix, contribs, TARGET_LUFS, CEILING_DBTP, asr=asr)
        if kind == "damaged":
            m[key]["repair"] = score.score_repair(song, contribs, frames, binary)
        m[key]["mixwright_seconds"] = summary["_seconds"]
        m[key]["mixwright_reported_lufs"] = summary.get("master", {}).get("integrated_lufs")

    # Baselines.
    clean_in = load_inputs(song, "stems")
    damaged_in = load_inputs(song, "damaged")
    for key, faders in (("sum", False), ("faders", True)):
        mix, contribs = baseline(damaged_in, faders)
        bd = out_dir / "mixes" / name / key
        bd.mkdir(parents=True, exist_ok=True)
        audio.write_audio(bd / "mix.wav", mix, score.RATE, "FLOAT")
        m[key] = score.score_mix(song, mix, contribs, TARGET_LUFS, CEILING_DBTP, asr=asr)
        m[key]["repair"] = score.score_repair(song, contribs, frames)
        cmix, ccontribs = baseline(clean_in, faders)
        m[key]["consistency"] = score.consistency(relative_loudness(song, cmix, ccontribs), m[key])
    m["ours"]["consistency"] = score.consistency(m["ours_clean"], m["ours"])
    if asr:
        lead = score.lead_name(song["ref"])
        res["solo_lead_recognised"] = score.recognised_words(clean_in[lead], song["ref"]["lyrics"],
                                                             song["ref"].get("lyric_lines"))
        for k in ("ours", "sum", "faders"):
            got, solo = m[k]["words"].get("recognised_in_mix"), res["solo_lead_recognised"]
            m[k]["words"]["recognised_vs_solo"] = got / solo if got is not None and solo else None
    res["seconds"] = time.monotonic() - t0
    print(f"  {name}: scored in {res['seconds']:.0f} s", flush=True)
    return res


# ------------------------------------------------------------------ headline metrics

def _get(d, path):
    for k in path.split("."):
        if d is None:
            return None
        d = d.get(k)
    return d


#: The side/mid ratio over the whole song a stereo mix sits in, dB (issue 12: "the mix is
#: not mono").
SIDE_MID_RANGE_DB = (-20.0, -6.0)

#: (key, label, path into a method's result, transform, better: "lower"/"higher" (or a
#: range, shown but not ranked), unit,
#: tie: a difference smaller than this is no loss — below what a listener or a
#: delivery spec tells apart).
HEADLINE = [
    ("loudness_error", "delivery: |loudness − target|", "delivery.loudness_error_lu", abs, "lower", "LU", 0.1),
    ("true_peak", "delivery: true peak over the ceiling", "delivery.true_peak_dbtp",
     lambda v: max(0.0, v - CEILING_DBTP), "lower", "dB", 0.1),
    ("clipped", "delivery: clipped samples", "delivery.clipped_samples", None, "lower", "", 0.5),
    ("nan", "delivery: NaN samples", "delivery.nan_samples", None, "lower", "", 0.5),
    ("consistency", "consistency: clean vs damaged, mean |Δ|", "consistency.mean_abs_diff_db", None, "lower", "dB", 0.25),
    ("balance", "balance: mean |error| vs reference", "balance.mean_abs_error_db", None, "lower", "dB", 0.25),
    ("balance_max", "balance: max |error|", "balance.max_abs_error_db", None, "lower", "dB", 0.5),
    ("aud_loud", "audibility at 85 dB SPL, mean", "audibility.loud.mean", None, "higher", "share", 0.01),
    ("aud_loud_min", "audibility at 85 dB SPL, worst stem", "audibility.loud.min", None, "higher", "share", 0.01),
    ("aud_quiet", "audibility at 60 dB SPL, mean", "audibility.quiet.mean", None, "higher", "share", 0.01),
    ("aud_quiet_min", "audibility at 60 dB SPL, worst stem", "audibility.quiet.min", None, "higher", "share", 0.01),
    ("aud_s_loud", "audibility among sounding frames, 85 dB SPL, mean", "audibility_sounding.loud.mean", None, "higher", "share", 0.01),
    ("aud_s_loud_min", "audibility among sounding frames, 85 dB SPL, worst", "audibility_sounding.loud.min", None, "higher", "share", 0.01),
    ("aud_s_quiet", "audibility among sounding frames, 60 dB SPL, mean", "audibility_sounding.quiet.mean", None, "higher", "share", 0.01),
    ("aud_s_quiet_min", "audibility among sounding frames, 60 dB SPL, worst", "audibility_sounding.quiet.min", None, "higher", "share", 0.01),
    ("sii_median", "words: SII median (60 dB SPL)", "words.sii_quiet_median", None, "higher", "", 0.01),
    ("sii_p10", "words: SII 10th percentile (60 dB SPL)", "words.sii_quiet_p10", None, "higher", "", 0.01),
    ("lead_error", "words: |lead vs mix − reference|", "words.lead_error_db", abs, "lower", "dB", 0.25),
    ("asr", "words: recognised in mix / in solo", "words.recognised_vs_solo", None, "higher", "", 0.02),
    ("spectrum", "spectrum: third-octave distance to reference", "spectrum.distance_db", None, "lower", "dB", 0.25),
    ("side_mid_low", "stereo: side/mid below 120 Hz", "spectrum.side_mid_low_db", None, "lower", "dB", 1.0),
    ("side_mid", "stereo: side/mid over the song", "spectrum.side_mid_db", None, "−20…−6", "dB", 1.0),
    ("side_mid_out", "stereo: side/mid outside −20…−6 dB", "spectrum.side_mid_db",
     lambda v: max(0.0, SIDE_MID_RANGE_DB[0] - v, v - SIDE_MID_RANGE_DB[1]), "lower", "dB", 1.0),
    ("lr_balance", "stereo: |L/R balance|", "spectrum.lr_balance_db", abs, "lower", "dB", 0.5),
    ("mono_loss", "stereo: mono fold-down loss", "spectrum.mono_loss_lu", None, "lower", "LU", 0.2),
    ("noise_red", "repair: noise floor reduction", "repair.noise_reduction_db", None, "higher", "dB", 0.5),
    ("hum_red", "repair: hum reduction", "repair.hum_reduction_db", None, "higher", "dB", 0.5),
    ("declip_gain", "repair: SNR gain in clipped regions", "repair.declip_snr_gain_db", None, "higher", "dB", 0.5),
    ("polarity", "repair: inverted stem's polarity fixed", "repair.polarity_found", float, "higher", "share", 0.01),
    ("delay_left", "repair: |delay left| on the delayed stem", "repair.delay_left_ms", abs, "lower", "ms", 0.05),
]


def headline(method_result: dict) -> dict:
    out = {}
    for key, _, path, f, *_ in HEADLINE:
        v = _get(method_result, path)
        out[key] = None if v is None else float(f(v) if f else v)
    return out


def averages(songs: list[dict]) -> dict:
    avg = {}
    for meth in COLUMNS:
        avg[meth] = {}
        for key, *_ in HEADLINE:
            vals = [s["headline"][meth][key] for s in songs if s["headline"][meth].get(key) is not None]
            avg[meth][key] = float(np.mean(vals)) if vals else None
    return avg


def losses(avg: dict) -> list[str]:
    """Headline metrics where our damaged mix averages worse than a baseline."""
    out = []
    for key, label, _, _, better, unit, tie in HEADLINE:
        ours = avg["ours"][key]
        if ours is None or better not in ("lower", "higher"):
            continue
        for b in ("sum", "faders"):
            v = avg[b][key]
            if v is None:
                continue
            worse = ours > v + tie if better == "lower" else ours < v - tie
            if worse:
                out.append(f"{label}: ours {fmt(ours)} vs {METHOD_LABEL[b]} {fmt(v)} {unit} ({better} is better)")
    return out


# ------------------------------------------------------------------ reports


def fmt(v) -> str:
    if v is None:
        return "–"
    if abs(v) >= 1000:
        return f"{v:.0f}"
    if abs(v) >= 100:
        return f"{v:.1f}"
    return f"{v:.2f}"


def md(text: str) -> str:
    """Escape a table cell's pipes."""
    return text.replace("|", "\\|")


def markdown(results: dict) -> str:
    avg = results["averages"]
    lines = [f"Run {results['date']} on {results['machine']}; mixwright at commit "
             f"{results.get('mixwright', 'unknown')}; {len(results['songs'])} songs, "
             f"{results['seconds']:.0f} s. Command: `{results['command']}`.", "",
             "### Averages over the songs", "",
             "| metric | better | " + " | ".join(METHOD_LABEL[m] for m in COLUMNS) + " |",
             "|---|---|" + "---:|" * len(COLUMNS)]
    for key, label, _, _, better, unit, _ in HEADLINE:
        u = f" ({unit})" if unit else ""
        lines.append(f"| {md(label)}{u} | {better} | " + " | ".join(fmt(avg[m].get(key)) for m in COLUMNS) + " |")
    lines += ["", "![score per metric, ours vs baselines](docs/benchmark-scores.svg)", "",
              "### Open problems: where we lose to a baseline", ""]
    lost = losses(avg)
    lines += [f"- {s}" for s in lost] if lost else ["- none"]
    lines += ["", "### Per song", ""]
    for s in results["songs"]:
        lines += [f"**{s['song']}** ({s['style']}, {s['stems']} stems, {s['duration_s']:.0f} s)", "",
                  "| metric | " + " | ".join(METHOD_LABEL[m] for m in COLUMNS) + " |",
                  "|---|" + "---:|" * len(COLUMNS)]
        for key, label, _, _, better, unit, _ in HEADLINE:
            u = f" ({unit})" if unit else ""
            lines.append(f"| {md(label)}{u} | " + " | ".join(fmt(s["headline"][m].get(key)) for m in COLUMNS) + " |")
        lines.append("")
    return "\n".join(lines)


def write_markdown(path: Path, body: str, tag: str = "results") -> None:
    begin, end = f"<!-- {tag}:begin -->", f"<!-- {tag}:end -->"
    text = path.read_text() if path.exists() else f"# Benchmarks\n\n{begin}\n{end}\n"
    if begin not in text:
        text += f"\n{begin}\n{end}\n"
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{begin}\n{body}\n{end}{tail}")


def plot(avg: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "mixwright"   # same data, same bytes
    import matplotlib.pyplot as plt

    keys = [h for h in HEADLINE if any(avg[m][h[0]] is not None for m in METHODS)]
    cols = 4
    rows = -(-len(keys) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.3 * rows))
    colours = {"ours": "#1f77b4", "ours_clean": "#9ecae1", "sum": "#d62728", "faders": "#ff9896"}
    for ax, (key, label, _, _, better, unit, _) in zip(axes.flat, keys):
        vals = [avg[m][key] if avg[m][key] is not None else 0.0 for m in METHODS]
        ax.bar(range(len(METHODS)), vals, color=[colours[m] for m in METHODS])
        ax.set_title(f"{label}\n({unit + ', ' if unit else ''}{better} is better)", fontsize=7)
        ax.set_xticks(range(len(METHODS)), ["ours", "clean", "sum", "faders"], fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)


def git_revision() -> str:
    """The commit the mixwright binary was built from (``-dirty`` with local changes)."""
    p = subprocess.run(["git", "describe", "--always", "--dirty", "--exclude", "*"], cwd=HERE.parent,
                       capture_output=True, text=True)
    return p.stdout.strip() or "unknown"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", type=Path, default=HERE / "corpus")
    p.add_argument("--songs", help="comma-separated song names (default: every song)")
    p.add_argument("--out", type=Path, default=HERE / "out")
    p.add_argument("--bin", type=Path, default=HERE.parent / "target" / "release" / "mixwright")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--asr", action="store_true", help="also run pocketsphinx (slow: minutes a song)")
    p.add_argument("--benchmarks", type=Path, help="update the results section of this markdown file")
    p.add_argument("--svg-copy", type=Path, help="also copy the plot here (committed)")
    p.add_argument("--from-results", type=Path,
                   help="only rewrite the tables and plot from this results.json (no mixing or scoring)")
    a = p.parse_args(argv)
    if a.from_results:
        results = json.loads(a.from_results.read_text())
        report(results, a)
        return 0
    t0 = time.monotonic()
    names = a.songs.split(",") if a.songs else sorted(
        d.name for d in a.corpus.iterdir() if (d / "reference.json").exists())
    a.out.mkdir(parents=True, exist_ok=True)
    jobs = [(a.corpus / n, a.out, a.bin.resolve(), a.asr) for n in names]
    print(f"benchmark: {len(jobs)} songs, {a.jobs} at a time", flush=True)
    with ProcessPoolExecutor(max_workers=a.jobs) as pool:
        songs = list(pool.map(bench_song, jobs))
    for s in songs:
        s["headline"] = {m: headline(s["methods"][m]) for m in METHODS}
        r = s["methods"]["ours"]["spectrum"]["reference"]
        s["headline"]["reference"] = {"side_mid_low": r["side_mid_low_db"], "lr_balance": abs(r["lr_balance_db"]),
                                      "mono_loss": r["mono_loss_lu"]}
        if r.get("side_mid_db") is not None:
            ref = headline({"spectrum": r})
            s["headline"]["reference"].update({k: ref[k] for k in ("side_mid", "side_mid_out")})
    results = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(),
        "command": "bench/run.sh" + (f" --songs {a.songs}" if a.songs else ""),
        "mixwright": git_revision(),
        "target_lufs": TARGET_LUFS, "ceiling_dbtp": CEILING_DBTP,
        "metrics": [{"key": k, "label": l, "path": pth, "better": b, "unit": u, "tie": t}
                    for k, l, pth, _, b, u, t in HEADLINE],
        "songs": songs,
    }
    results["averages"] = averages(songs)
    results["open_problems"] = losses(results["averages"])
    results["seconds"] = time.monotonic() - t0
    (a.out / "results.json").write_text(json.dumps(results, indent=1, allow_nan=False) + "\n")
    report(results, a)
    print(f"benchmark: {a.out / 'results.json'} in {results['seconds']:.0f} s", flush=True)
    for s in results["open_problems"]:
        print(f"  we lose: {s}")
    return 0


def report(results: dict, a) -> None:
    """The plot, its committed copy and the markdown tables."""
    a.out.mkdir(parents=True, exist_ok=True)
    plot(results["averages"], a.out / "scores.svg")
    if a.svg_copy:
        a.svg_copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(a.out / "scores.svg", a.svg_copy)
    if a.benchmarks:
        write_markdown(a.benchmarks, markdown(results))


if __name__ == "__main__":
    sys.exit(main())
