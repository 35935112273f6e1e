#!/usr/bin/env python3
"""Speed and peak memory of ``mixwright mix`` against peers doing the nearest job.

Two generated sessions, written once into ``<out>/speed/`` from the corpus's clean
stems (each stem looped to the length; ``rock_anthem``'s 12 stems, then stems of the
other songs up to 48), all 24-bit stereo 44.1 kHz WAV (sox's ``-m`` needs one channel
count): 12 stems × 4 minutes and 48 stems × 10 minutes.

On each session, in the same run, whole-process wall time (median of ``--runs``) and
peak resident memory (the largest of the processes of one run, from GNU time's ``%M``)
of:

* **mixwright**: ``mixwright mix DIR -o mix.wav -q`` (analysis, decisions, console,
  master to −14 LUFS / −1 dBTP, 24-bit file);
* **ffmpeg**: ``amix`` of the stems to a float WAV, then two-pass ``loudnorm`` (measure,
  then normalise with the measured values) — summing and loudness-normalising;
* **sox**: ``sox -m`` to a float WAV, then ``gain -n -1`` (peak-normalise; sox has no
  loudness meter);
* **matchering** (installed into the venv on first use, when PyPI has it): masters the
  sox sum to the song's reference mix (its own loudness, spectrum and limiter); timed
  alone, after the sum.

And the loudness measurement of the 4- and 10-minute mixwright mixes: ``mixwright
analyze`` vs pyloudnorm (``Meter.integrated_loudness`` in a fresh Python process, file
read included) vs ``ffmpeg -af ebur128``.

Writes ``<out>/speed.json`` and, with ``--benchmarks FILE``, the tables between the
``<!-- speed:begin -->`` and ``<!-- speed:end -->`` markers of that file.

Usage: ``bench/.venv/bin/python bench/speed.py [--corpus DIR] [--bin PATH] [--runs 3]
[--out bench/out] [--benchmarks BENCHMARKS.md] [--small]`` (``--small``: only the
12-stem session).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import audio  # noqa: E402
import bench  # noqa: E402

SESSIONS = {"12 stems × 4 min": (12, 240.0), "48 stems × 10 min": (48, 600.0)}
#: Songs whose stems fill the sessions, in order.
SOURCE_SONGS = ("rock_anthem", "wall_of_sound", "pop_bright", "funk_machine", "neon_drive",
                "slow_burn", "late_night", "chamber_ballad", "acoustic_porch")


def make_session(corpus: Path, folder: Path, n: int, seconds: float) -> list[Path]:
    """``n`` stereo stems of ``seconds``, looped from corpus stems; reused when present."""
    stamp = folder / ".complete"
    if stamp.exists():
        return sorted(folder.glob("*.wav"))
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    sources = [p for s in SOURCE_SONGS for p in sorted((corpus / s / "stems").glob("*.wav"))]
    if len(sources) < n:
        raise SystemExit(f"{corpus}: {len(sources)} stems, {n} needed")
    frames = int(seconds * audio.RATE)
    for i, src in enumerate(sources[:n]):
        x, _ = audio.read_audio(src)
        if x.shape[1] == 1:
            x = np.column_stack([x[:, 0], x[:, 0]])
        reps = -(-frames // x.shape[0])
        y = np.tile(x, (reps, 1))[:frames]
        audio.write_audio(folder / f"{i:02d}_{src.parent.parent.name}_{src.stem}.wav", y, audio.RATE, "PCM_24")
    stamp.write_text("")
    return sorted(folder.glob("*.wav"))


def run(cmds: list[list[str]]) -> tuple[float, int, str, float]:
    """Run commands one after another: wall seconds, the largest peak RSS (KiB), the
    last command's standard error and the CPU seconds (user + system) of all of them.
    The peak and the CPU time come from GNU time, not from this process's wait4: a child
    forked from this (large) Python process would count the parent's pages it held
    before exec. CPU time is the fair figure on a busy machine, where wall time mostly
    measures the other processes."""
    t0 = time.perf_counter()
    peak = 0
    cpu = 0.0
    err = ""
    rss_file = Path(tempfile.mkstemp(prefix="mw-speed-")[1])
    try:
        for cmd in cmds:
            p = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", "-o", str(rss_file), *cmd],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            err = p.stderr.decode(errors="replace")
            if p.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd[:4])}… failed ({p.returncode}): {err[-500:]}")
            user, system, rss = rss_file.read_text().split()[-3:]
            peak = max(peak, int(rss))
            cpu += float(user) + float(system)
    finally:
        rss_file.unlink()
    return time.perf_counter() - t0, peak, err, cpu


def measure(name: str, make_cmds, runs: int) -> dict:
    """Median wall time, CPU time and peak RSS over ``runs`` runs."""
    times, rss, cpus = [], [], []
    for _ in range(runs):
        cmds = make_cmds()
        t, m, _, c = run(cmds)
        times.append(t)
        rss.append(m)
        cpus.append(c)
    return summary(name, times, cpus, rss)


def summary(name: str, times: list[float], cpus: list[float], rss: list[int]) -> dict:
    res = {"seconds": statistics.median(times), "runs": times, "cpu_seconds": statistics.median(cpus),
           "peak_rss_mib": statistics.median(rss) / 1024}
    print(f"  {name}: {res['seconds']:.2f} s wall, {res['cpu_seconds']:.2f} s CPU, "
          f"{res['peak_rss_mib']:.0f} MiB", flush=True)
    return res


def time_ffmpeg(stems: list[Path], work: Path, runs: int) -> dict:
    """amix to a float WAV, loudnorm pass 1 (measure), pass 2 (apply the measured
    values, linear): ffmpeg's documented two-pass loudness normalisation."""
    times, rss, cpus = [], [], []
    summed = work / "ffmpeg-sum.wav"
    inputs = [a for s in stems for a in ("-i", str(s))]
    quiet = ["ffmpeg", "-nostdin", "-hide_banner", "-y"]
    for _ in range(runs):
        t1, m1, _, c1 = run([[*quiet, "-loglevel", "error", *inputs, "-filter_complex",
                          f"amix=inputs={len(stems)}:normalize=0", "-c:a", "pcm_f32le", str(summed)]])
        t2, m2, err, c2 = run([[*quiet, "-i", str(summed), "-af", "loudnorm=I=-14:TP=-1:LRA=11:print_format=json",
                            "-f", "null", "-"]])
        j = json.loads(err[err.rindex("{"):])
        t3, m3, _, c3 = run([[*quiet, "-loglevel", "error", "-i", str(summed), "-af",
                          f"loudnorm=I=-14:TP=-1:LRA=11:measured_I={j['input_i']}:measured_TP={j['input_tp']}:"
                          f"measured_LRA={j['input_lra']}:measured_thresh={j['input_thresh']}:"
                          f"offset={j['target_offset']}:linear=true", "-ar", "44100", "-c:a", "pcm_s24le",
                          str(work / "ffmpeg-mix.wav")]])
        times.append(t1 + t2 + t3)
        cpus.append(c1 + c2 + c3)
        rss.append(max(m1, m2, m3))
    return summary("ffmpeg", times, cpus, rss)


def ensure_matchering(py: Path) -> bool:
    if subprocess.run([str(py), "-c", "import matchering"], capture_output=True).returncode == 0:
        return True
    p = subprocess.run([str(py), "-m", "pip", "install", "-q", "matchering==2.0.6"], capture_output=True)
    return p.returncode == 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", type=Path, default=HERE / "corpus")
    p.add_argument("--bin", type=Path, default=HERE.parent / "target" / "release" / "mixwright")
    p.add_argument("--out", type=Path, default=HERE / "out")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--small", action="store_true", help="only the 12-stem session")
    p.add_argument("--large", action="store_true", help="only the 48-stem session")
    p.add_argument("--benchmarks", type=Path)
    a = p.parse_args(argv)
    py = Path(sys.executable)
    binary = str(a.bin.resolve())
    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": bench.machine(),
               "runs": a.runs, "versions": {}, "sessions": {}}
    for tool, cmd in (("ffmpeg", ["ffmpeg", "-version"]), ("sox", ["sox", "--version"])):
        results["versions"][tool] = subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0]
    have_matchering = ensure_matchering(py)
    ref_mix = a.corpus / "rock_anthem" / "reference_mix.wav"
    for label, (n, seconds) in SESSIONS.items():
        if (a.small and n > 12) or (a.large and n <= 12):
            continue
        folder = a.out / "speed" / f"{n}x{int(seconds)}"
        print(f"== {label}: {folder}", flush=True)
        stems = make_session(a.corpus, folder / "stems", n, seconds)
        work = folder / "work"
        work.mkdir(exist_ok=True)
        r = {}
        mix = work / "mixwright.wav"
        r["mixwright"] = measure("mixwright", lambda: [[binary, "mix", str(folder / "stems"), "-o", str(mix), "-q"]],
                                 a.runs)
        r["ffmpeg"] = time_ffmpeg(stems, work, a.runs)
        sox_sum = work / "sox-sum.wav"
        r["sox"] = measure("sox", lambda: [["sox", "-m", *map(str, stems), "-e", "floating-point", str(sox_sum)],
                                           ["sox", str(sox_sum), "-b", "24", str(work / "sox-mix.wav"),
                                            "gain", "-n", "-1"]], a.runs)
        if have_matchering:
            script = ("import matchering as mg, sys; mg.log(lambda *a: None); "
                      "mg.process(target=sys.argv[1], reference=sys.argv[2], results=[mg.pcm24(sys.argv[3])])")
            r["matchering"] = measure("matchering", lambda: [[str(py), "-c", script, str(sox_sum), str(ref_mix),
                                                              str(work / "matchering.wav")]], a.runs)
        # Loudness measurement of the same file by three meters.
        meters = {
            "mixwright analyze": [binary, "analyze", str(mix)],
            "pyloudnorm": [str(py), "-c", "import soundfile as sf, pyloudnorm as pl, sys; x, r = sf.read(sys.argv[1]);"
                           " print(pl.Meter(r).integrated_loudness(x))", str(mix)],
            "ffmpeg ebur128": ["ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-i", str(mix), "-af",
                               "ebur128=peak=true", "-f", "null", "-"],
        }
        r["loudness"] = {k: measure(k, lambda c=c: [c], a.runs) for k, c in meters.items()}
        results["sessions"][label] = r
    # A session not measured this time keeps its last figures (marked with their date).
    old = a.out / "speed.json"
    if old.exists():
        prev = json.loads(old.read_text())
        for label, r in prev.get("sessions", {}).items():
            if label not in results["sessions"]:
                r.setdefault("date", prev["date"])
                r.setdefault("runs", prev["runs"])
                results["sessions"][label] = r
    for r in results["sessions"].values():
        r.setdefault("date", results["date"])
        r.setdefault("runs", a.runs)
    results["sessions"] = dict(sorted(results["sessions"].items(), key=lambda kv: SESSIONS[kv[0]][0]))
    old.write_text(json.dumps(results, indent=1) + "\n")
    if a.benchmarks:
        bench.write_markdown(a.benchmarks, markdown(results), tag="speed")
    return 0


def _cpu(r: dict, base: dict) -> tuple[str, str]:
    """CPU seconds and their ratio to mixwright's, "–" for figures from before they were kept."""
    if "cpu_seconds" not in r or "cpu_seconds" not in base:
        return "–", "–"
    return f"{r['cpu_seconds']:.2f}", f"{r['cpu_seconds'] / base['cpu_seconds']:.2f}"


def markdown(res: dict) -> str:
    lines = [f"Run on {res['machine']}; the median of the runs given per session; wall time of "
             "the whole process (all processes of a pipeline), its CPU time (user + system: the fair "
             "figure when the machine was busy), peak resident memory of its largest process. "
             f"{res['versions'].get('ffmpeg', '')}; {res['versions'].get('sox', '')}. "
             "Command: `bench/.venv/bin/python bench/speed.py --benchmarks BENCHMARKS.md`.", "",
             "| session (date, runs) | tool (job) | wall (s) | × mixwright | CPU (s) | × mixwright | peak memory (MiB) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    jobs = {"mixwright": "mixwright mix (analysis, engineer, console, master)",
            "ffmpeg": "ffmpeg amix + two-pass loudnorm", "sox": "sox -m + gain -n",
            "matchering": "matchering (master the sum to a reference)"}
    for label, r in res["sessions"].items():
        base = r["mixwright"]
        for k, job in jobs.items():
            if k in r:
                cpu, ratio = _cpu(r[k], base)
                lines.append(f"| {label} ({r['date']}, {r['runs']}) | {job} | {r[k]['seconds']:.2f} | "
                             f"{r[k]['seconds'] / base['seconds']:.2f} | {cpu} | {ratio} | {r[k]['peak_rss_mib']:.0f} |")
    lines += ["", "Loudness measurement of the mixwright mix of each session (the file read included):", "",
              "| session | meter | wall (s) | × mixwright analyze | CPU (s) | × mixwright analyze | peak memory (MiB) |",
              "|---|---|---:|---:|---:|---:|---:|"]
    for label, r in res["sessions"].items():
        base = r["loudness"]["mixwright analyze"]
        for k, v in r["loudness"].items():
            cpu, ratio = _cpu(v, base)
            lines.append(f"| {label} | {k} | {v['seconds']:.2f} | {v['seconds'] / base['seconds']:.2f} | {cpu} | {ratio} | "
                         f"{v['peak_rss_mib']:.0f} |")
    lines += ["", "\"× mixwright\" above 1 means the peer took longer. The peers do less: ffmpeg and "
              "sox sum and normalise, matchering masters an already summed mix; mixwright analyses every "
              "stem, decides faders and pans, and masters."]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
