#!/usr/bin/env python3
"""Compare mixwright's meters with independent ones.

For a set of generated files (tones, noise, loudness steps, true-peak traps, music-like
stems at several sample rates, bit depths and channel counts) and any real files given
(example/song/* by default, when present), measure integrated loudness (I), loudness
range (LRA) and true peak (TP) with:

  * mixwright:  `mixwright analyze --json`
  * ffmpeg:     the ebur128 filter with peak=true (3-decimal values from its metadata)
  * pyloudnorm: Meter.integrated_loudness and Meter.loudness_range; pyloudnorm has no true
                peak, so the Python TP column is a 4x polyphase oversampling of the
                samples (scipy.signal.resample_poly), the method of BS.1770 Annex 2

and print a table of the differences, flagging any over 0.1 LU (I), 0.5 LU (LRA) or
0.3 dB (TP). A pyloudnorm difference is flagged only where pyloudnorm and ffmpeg agree
with each other within that limit (else the row says "refs differ"). Exit status 1 when
anything is flagged.

The Python packages (scripts/requirements.txt) go into scripts/.venv, created on first run.

    python3 scripts/meter_check.py [--bin target/release/mixwright] [--keep DIR] [REAL...]
"""

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = HERE / ".venv"
REQUIREMENTS = HERE / "requirements.txt"
LIMITS = {"I": 0.1, "LRA": 0.5, "TP": 0.3}
AUDIO = {".wav", ".flac", ".aif", ".aiff", ".mp3", ".ogg"}


def ensure_venv():
    """Re-runs this script inside scripts/.venv, creating or updating it as needed."""
    python = VENV / "bin" / "python"
    stamp = VENV / ".requirements.sha256"
    want = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not python.exists():
        print(f"creating {VENV} ...", file=sys.stderr)
        venv.create(VENV, with_pip=True)
    if not stamp.exists() or stamp.read_text() != want:
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)], check=True
        )
        stamp.write_text(want)
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


# ---------------------------------------------------------------- test material


def generate(out):
    """Writes the generated test files into `out`; returns their paths."""
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(20240611)
    files = []

    def write(name, x, rate, subtype="PCM_24"):
        path = out / name
        sf.write(path, np.asarray(x, dtype=np.float64), rate, subtype=subtype)
        files.append(path)

    def t(rate, secs):
        return np.arange(int(round(rate * secs))) / rate

    def db(x):
        return 10 ** (x / 20)

    def stereo(x):
        return np.stack([x, x], axis=1)

    def pink(n):
        spec = np.fft.rfft(rng.standard_normal(n))
        f = np.arange(len(spec))
        spec[1:] /= np.sqrt(f[1:])
        spec[0] = 0
        y = np.fft.irfft(spec, n)
        return y / np.sqrt(np.mean(y**2))

    def fade(x, rate, secs=0.01):
        n = int(rate * secs)
        g = np.ones(len(x))
        g[:n] = np.linspace(0, 1, n)
        g[-n:] = np.linspace(1, 0, n)
        return x * (g[:, None] if x.ndim == 2 else g)

    # Tones.
    r = 48000
    write("sine1k_-23dBFS_48k_stereo.wav", stereo(db(-23) * np.sin(2 * np.pi * 1000 * t(r, 20))), r)
    r = 44100
    write("sine100_-18dBFS_44k1_mono.wav", db(-18) * np.sin(2 * np.pi * 100 * t(r, 15)), r, "PCM_16")
    # True-peak traps: a sine at fs/4 with 45 degrees of phase peaks 3 dB between samples.
    r = 48000
    x = fade(0.9 * np.sin(2 * np.pi * r / 4 * t(r, 5) + np.pi / 4), r)
    write("tp_fs4_45deg_-0.9dBTP_48k.wav", stereo(x), r)
    r = 44100
    x = fade(1.41 * np.sin(2 * np.pi * r / 4 * t(r, 5) + np.pi / 4), r)
    write("tp_fs4_45deg_+3dBTP_44k1_float.wav", stereo(x), r, "FLOAT")
    x = fade(0.95 * np.sin(2 * np.pi * 11025.5 * t(r, 5)), r)
    write("tp_11k_near_fs4_44k1.wav", stereo(x), r)
    # Noise.
    r = 96000
    write("white_-20dBFS_96k_stereo.wav", 0.1 * rng.standard_normal((r * 20, 2)), r)
    r = 48000
    p = pink(r * 30)
    write("pink_-23dBFS_48k_stereo.wav", db(-23) * np.stack([p, np.roll(p, 4800)], axis=1), r)
    # Loudness steps (Tech 3342 case 4) and gated bursts.
    r = 44100
    seg = [db(l) * np.sin(2 * np.pi * 1000 * t(r, 20)) for l in (-50, -35, -20, -35, -50)]
    write("steps_lra15_44k1.wav", stereo(np.concatenate(seg)), r)
    r = 48000
    burst = np.concatenate([np.sin(2 * np.pi * 440 * t(r, 1.5)) * 0.3, np.zeros(int(r * 2.5))])
    write("bursts_with_silence_48k_mono.wav", np.tile(burst, 10), r)
    # Speech-like at 8 kHz: syllables of formant-filtered noise with pauses.
    from scipy.signal import lfilter, butter

    r = 8000
    n = r * 20
    env = np.zeros(n)
    pos = 0
    while pos < n:
        length = int(r * rng.uniform(0.12, 0.3))
        env[pos : pos + length] = np.hanning(min(length, n - pos) + 0)[: min(length, n - pos)]
        pos += length + int(r * rng.uniform(0.02, 0.4))
    src = rng.standard_normal(n)
    y = np.zeros(n)
    for f0, bw in ((500, 80), (1500, 120), (2500, 200)):
        b, a = butter(2, [(f0 - bw) / (r / 2), (f0 + bw) / (r / 2)], btype="band")
        y += lfilter(b, a, src)
    write("speechlike_8k_mono.wav", 0.3 * env * y / np.max(np.abs(y)), r, "PCM_16")

    # Music-like stems, 60 s at 120 BPM, each at its own rate and format, and their mix.
    secs = 60.0

    def drums(r):
        tt = t(r, secs)
        beat = tt % 0.5
        bar = (tt // 0.5).astype(int) % 4
        kick = np.where(bar % 2 == 0, np.sin(2 * np.pi * (50 + 90 * np.exp(-beat / 0.03)) * beat), 0)
        kick *= np.exp(-beat / 0.12) * 0.8
        snare = np.where(bar % 2 == 1, rng.standard_normal(len(tt)) * np.exp(-beat / 0.08), 0) * 0.4
        hat_t = tt % 0.25
        b, a = butter(2, 7000 / (r / 2), btype="high")
        hats = lfilter(b, a, rng.standard_normal(len(tt))) * np.exp(-hat_t / 0.02) * 0.25
        return np.stack([kick + snare + 0.7 * hats, kick + snare + 1.0 * hats], axis=1)

    def bass(r):
        tt = t(r, secs)
        notes = np.array([55.0, 55.0, 73.42, 65.41])[(tt // 2).astype(int) % 4]
        phase = 2 * np.pi * np.cumsum(notes) / r
        saw = 2 * ((phase / (2 * np.pi)) % 1) - 1
        b, a = butter(2, 400 / (r / 2))
        return 0.5 * lfilter(b, a, saw) * (0.6 + 0.4 * np.exp(-(tt % 0.5) / 0.2))

    def pad(r):
        tt = t(r, secs)
        chord = [220.0, 277.18, 329.63, 440.0]
        x = sum(np.sin(2 * np.pi * f * tt + i) for i, f in enumerate(chord)) / 4
        swell = 0.5 + 0.5 * np.sin(2 * np.pi * tt / 8) ** 2
        return 0.3 * np.stack([x * swell, np.roll(x, 300) * swell], axis=1)

    def vocal(r):
        tt = t(r, secs)
        f0 = 220 * (1 + 0.01 * np.sin(2 * np.pi * 5 * tt))
        phase = 2 * np.pi * np.cumsum(f0) / r
        x = sum(np.sin(k * phase) / k for k in range(1, 12))
        b, a = butter(2, [700 / (r / 2), 3000 / (r / 2)], btype="band")
        phrase = ((tt % 4) < 3).astype(float) * (0.5 + 0.5 * np.sin(2 * np.pi * tt / 3) ** 2)
        return 0.4 * lfilter(b, a, x) * phrase

    stems = [
        ("stem_drums_44k1_stereo.wav", drums, 44100, "PCM_24"),
        ("stem_bass_48k_mono.wav", bass, 48000, "PCM_16"),
        ("stem_pad_96k_stereo_float.wav", pad, 96000, "FLOAT"),
        ("stem_vocal_22k05_mono.wav", vocal, 22050, "PCM_24"),
    ]
    mix = np.zeros((int(48000 * secs), 2))
    for name, make, r, subtype in stems:
        write(name, make(r), r, subtype)
        y = make(48000)
        mix += y if y.ndim == 2 else stereo(y)
    write("stem_mix_48k_stereo.wav", 0.7 * mix, 48000)
    return files


# ---------------------------------------------------------------- meters


def ours(binary, files):
    out = subprocess.run(
        [str(binary), "-q", "analyze", "--json", *map(str, files)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {
        Path(v["file"]).name: (v["integrated_lufs"], v["lra_lu"], v["true_peak_dbtp"])
        for v in json.loads(out)
    }


def ffmpeg(path):
    """I, LRA and TP from the last metadata frame of ffmpeg's ebur128 filter."""
    import math

    with tempfile.NamedTemporaryFile(suffix=".txt") as meta:
        subprocess.run(
            [
                "ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-af",
                f"ebur128=peak=true:metadata=1,ametadata=mode=print:file={meta.name}",
                "-f", "null", "-",
            ],
            check=True,
            capture_output=True,
        )
        text = Path(meta.name).read_text()
    last = {}
    for key, value in re.findall(r"lavfi\.r128\.([A-Za-z_.0-9]+)=(\S+)", text):
        last[key] = float(value)
    tp = last.get("true_peak")
    i = last.get("I")
    return (
        i if i is not None and i > -70 else None,
        last.get("LRA"),
        20 * math.log10(tp) if tp and tp > 0 else None,
    )


def python_meters(path):
    import numpy as np
    import pyloudnorm
    import soundfile as sf
    from scipy.signal import resample_poly

    x, rate = sf.read(path, always_2d=True)
    meter = pyloudnorm.Meter(rate)
    data = x[:, 0] if x.shape[1] == 1 else x
    try:
        i = meter.integrated_loudness(data)
    except ValueError:
        i = None
    try:
        lra = meter.loudness_range(data)
    except (ValueError, AttributeError):
        lra = None
    peak = max(np.max(np.abs(resample_poly(x[:, c], 4, 1))) for c in range(x.shape[1]))
    tp = 20 * np.log10(peak) if peak > 0 else None
    finite = lambda v: float(v) if v is not None and np.isfinite(v) and v > -70 else None  # noqa: E731
    return finite(i), (float(lra) if lra is not None and np.isfinite(lra) else None), tp


# ---------------------------------------------------------------- report


def fmt(v, width=7):
    return f"{v:{width}.2f}" if v is not None else " " * (width - 1) + "-"


def diff(a, b):
    return None if a is None or b is None else a - b


def main():
    ensure_venv()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", type=Path, help="mixwright binary (default: build --release)")
    ap.add_argument("--keep", type=Path, help="write the generated files here and keep them")
    ap.add_argument("real", nargs="*", type=Path, help="real audio files or folders")
    args = ap.parse_args()

    binary = args.bin
    if binary is None:
        subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "mixwright"], cwd=ROOT, check=True)
        binary = ROOT / "target" / "release" / "mixwright"

    real_inputs = args.real or [p for p in [ROOT / "example" / "song"] if p.exists()]
    real = []
    for p in real_inputs:
        real += sorted(q for q in p.iterdir() if q.suffix.lower() in AUDIO) if p.is_dir() else [p]

    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        files = generate(out) + real
        mine = ours(binary, files)
        rows = []
        flagged = 0
        for f in files:
            import soundfile as sf

            info = sf.info(str(f)) if f.suffix.lower() not in {".mp3"} else None
            o = mine[f.name]
            ff = ffmpeg(f)
            py = python_meters(f)
            d = {
                "I ff": diff(o[0], ff[0]), "I py": diff(o[0], py[0]),
                "LRA ff": diff(o[1], ff[1]), "LRA py": diff(o[1], py[1]),
                "TP ff": diff(o[2], ff[2]), "TP py": diff(o[2], py[2]),
            }
            bad = [k for k, v in d.items() if v is not None and abs(v) > LIMITS[k.split()[0]]]
            # A pyloudnorm difference counts only where pyloudnorm agrees with ffmpeg: where
            # the two references disagree beyond the limit themselves, the reference is in
            # doubt, not us (pyloudnorm 0.2.0 reads LRA 2.1 LU on a steady 5 s sine, and
            # designs its K-filter differently at 8 kHz). Such rows are marked "refs differ".
            refs_differ = []
            for k in list(bad):
                fig = k.split()[0]
                i = ["I", "LRA", "TP"].index(fig)
                if k.endswith("py") and ff[i] is not None and py[i] is not None \
                        and abs(ff[i] - py[i]) > LIMITS[fig]:
                    bad.remove(k)
                    refs_differ.append(fig)
            flagged += bool(bad)
            fmt_info = f"{info.samplerate // 1000 if info.samplerate % 1000 == 0 else info.samplerate / 1000}k/{info.channels}ch" if info else "?"
            rows.append((f.name, fmt_info, o, ff, py, d, bad, refs_differ))

    head = (
        f"| {'file':38} | {'fmt':9} | {'I ours':>7} | {'ΔI ff':>6} | {'ΔI py':>6} "
        f"| {'LRA ours':>8} | {'ΔLRA ff':>7} | {'ΔLRA py':>7} | {'TP ours':>7} | {'ΔTP ff':>6} | {'ΔTP py':>6} | flag |"
    )
    print(head)
    print("|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
    for name, info, o, ff, py, d, bad, refs_differ in rows:
        ok = "ok" + (f" (refs differ: {','.join(refs_differ)})" if refs_differ else "")
        print(
            f"| {name:38} | {info:9} | {fmt(o[0])} | {fmt(d['I ff'], 6)} | {fmt(d['I py'], 6)} "
            f"| {fmt(o[1], 8)} | {fmt(d['LRA ff'])} | {fmt(d['LRA py'])} | {fmt(o[2])} "
            f"| {fmt(d['TP ff'], 6)} | {fmt(d['TP py'], 6)} | {'!! ' + ','.join(bad) if bad else ok} |"
        )
    worst = {
        k: max((abs(r[5][k]) for r in rows if r[5][k] is not None), default=0.0)
        for k in rows[0][5]
    }
    print()
    print("largest |difference|: " + ", ".join(f"{k} {v:.3f}" for k, v in worst.items()))
    print(f"limits: I {LIMITS['I']} LU, LRA {LIMITS['LRA']} LU, TP {LIMITS['TP']} dB; "
          f"{flagged} of {len(rows)} files over a limit")
    return 1 if flagged else 0


if __name__ == "__main__":
    sys.exit(main())
