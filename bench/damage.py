#!/usr/bin/env python3
"""Damage a song's clean stems the way real sessions arrive, and record the truth.

From ``<song>/stems/*.wav`` and ``<song>/reference.json`` this writes
``<song>/damaged/`` (one file per stem, same base name, extension ``.wav``, ``.flac``
or ``.aiff``) and ``<song>/damage.json`` (beside the folder, so the folder holds only
stems), which says exactly what was done to each stem. Per song, drawn from a
generator seeded by the song's name:

* every stem: a gain error, uniform in −20…+12 dB;
* two stems: a spectral tilt of ±1…3 dB per octave about 1 kHz, limited to ±12 dB
  (a zero-phase shelf-like slope: a dull or a harsh microphone);
* two stems: hiss, one white and one pink, at −50…−40 dBFS RMS;
* one stem: mains hum, 50 or 60 Hz, fundamental at −40…−30 dBFS RMS, with falling
  harmonics up to the 7th;
* one stem: clipping, normalised to full scale and driven 6–12 dB into a hard clip;
* one stem (not the clipped one): a DC offset of ±0.005…0.03;
* the song's related pair (close mic and overheads, DI and amp, mic and pickup…):
  the secondary delayed by 0.1–10 ms (fractional samples) and one of the two
  polarity-inverted;
* formats: one stem each at 48 kHz, 96 kHz and 22.05 kHz (resampled band-limited,
  time origin kept), the rest at 44.1 kHz; each stem 16-bit, 24-bit or 32-bit float;
  one mono stem made dual-mono stereo and one stereo stem folded to mono; one
  stem as FLAC and one as AIFF.

Order per stem, as the signal would meet them: delay and polarity (mic position and
wiring), tilt (mic and preamp), gain, hum and hiss (analogue chain), clipping (the
converter), DC offset, channel change, resampling, file format. A stem whose gain
pushes it past full scale without being the clipped one is written as 32-bit float
(as a DAW export would keep its overs) and marked ``"overs": true``.

Usage: ``python3 bench/damage.py [--corpus DIR] [--songs a,b] [--force]``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import zlib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import audio  # noqa: E402

RATE = audio.RATE

#: Roles whose stems may be band-limited to 11 kHz by the 22.05 kHz damage
#: (cymbals and voices would lose what makes them themselves).
_LOW_ROLES = ("bass", "kick", "pad", "strings", "keys", "piano", "room", "acoustic_guitar", "electric_guitar")
#: Roles preferred for the clipping damage (the loud, peaky sources that clip in life).
_CLIP_ROLES = ("snare", "bass", "lead_vocal", "kick", "electric_guitar", "acoustic_guitar", "piano", "brass")


def _seed(*parts: object) -> int:
    return zlib.crc32("/".join(str(p) for p in parts).encode())


def pink_noise(rng: np.random.Generator, frames: int, channels: int) -> np.ndarray:
    """Pink (1/f power) noise, unit RMS, shaped in the frequency domain."""
    n = audio.smooth_length(frames)  # a fast FFT length; the surplus is cut off
    white = rng.standard_normal((n, channels))
    freqs = np.fft.rfftfreq(n, 1.0 / RATE)
    shape = 1.0 / np.sqrt(np.maximum(freqs, 20.0))
    y = np.fft.irfft(np.fft.rfft(white, axis=0) * shape[:, None], n, axis=0)[:frames]
    return y / np.sqrt(np.mean(y ** 2))


def hum(rng: np.random.Generator, frames: int, channels: int, mains: int, level_dbfs: float) -> tuple[np.ndarray, dict]:
    """Mains hum: the fundamental at ``level_dbfs`` RMS plus harmonics 2–7 below it."""
    harmonics = {2: -4.0, 3: -6.0, 4: -12.0, 5: -14.0, 6: -20.0, 7: -22.0}
    t = np.arange(frames) / RATE
    y = np.zeros(frames)
    amp = audio.db_to_gain(level_dbfs) * math.sqrt(2.0)  # RMS -> peak of a sine
    y += amp * np.sin(2 * np.pi * mains * t + rng.uniform(0, 2 * np.pi))
    for k, rel in harmonics.items():
        y += amp * audio.db_to_gain(rel) * np.sin(2 * np.pi * k * mains * t + rng.uniform(0, 2 * np.pi))
    return np.repeat(y[:, None], channels, axis=1), {
        "mains_hz": mains, "fundamental_rms_dbfs": round(level_dbfs, 2),
        "harmonics_db_vs_fundamental": {str(k): v for k, v in harmonics.items()},
    }


def tilt(x: np.ndarray, db_per_octave: float, pivot_hz: float = 1000.0, limit_db: float = 12.0) -> np.ndarray:
    """Zero-phase spectral tilt: ``db_per_octave`` × octaves from the pivot, clamped."""
    def gain(f):
        return np.clip(db_per_octave * np.log2(np.maximum(f, 1.0) / pivot_hz), -limit_db, limit_db)
    return audio.apply_magnitude(x, gain)


def plan(stems: dict[str, dict], pairs: list[dict], rng: np.random.Generator) -> dict[str, dict]:
    """Decide every damage for every stem (no audio touched yet)."""
    names = sorted(stems)
    mono = [n for n in names if stems[n]["channels"] == 1]
    stereo = [n for n in names if stems[n]["channels"] == 2]
    p = {n: {"role": stems[n]["role"], "gain_db": round(float(rng.uniform(-20.0, 12.0)), 2), "tilt": None,
             "hiss": None, "hum": None, "clip": None, "dc_offset": 0.0, "polarity_inverted": False,
             "delay_ms": 0.0, "channels": {"clean": stems[n]["channels"], "damaged": stems[n]["channels"]},
             "sample_rate": RATE, "subtype": str(rng.choice(["PCM_16", "PCM_24", "FLOAT"])),
             "container": "WAV"} for n in names}

    def pick(pool, exclude=()):
        pool = [n for n in pool if n not in exclude]
        return str(rng.choice(pool)) if pool else None

    clip_pool = [n for n in names if p[n]["role"] in _CLIP_ROLES] or names
    clipped = pick(clip_pool)
    p[clipped]["clip"] = {"drive_db": round(float(rng.uniform(6.0, 12.0)), 2)}
    for n in rng.choice(names, size=min(2, len(names)), replace=False):
        p[str(n)]["tilt"] = {"db_per_octave": round(float(rng.choice([-1, 1]) * rng.uniform(1.0, 3.0)), 2),
                             "pivot_hz": 1000.0, "limit_db": 12.0}
    for n, color in zip(rng.choice(names, size=min(2, len(names)), replace=False), ("white", "pink")):
        p[str(n)]["hiss"] = {"color": color, "rms_dbfs": round(float(rng.uniform(-50.0, -40.0)), 2)}
    p[pick(names)]["hum"] = {"mains_hz": int(rng.choice([50, 60])),
                             "fundamental_rms_dbfs": round(float(rng.uniform(-40.0, -30.0)), 2)}
    dc = pick(names, [clipped])
    p[dc]["dc_offset"] = round(float(rng.choice([-1, 1]) * rng.uniform(0.005, 0.03)), 4)
    pair = None
    if pairs:
        chosen = pairs[int(rng.integers(len(pairs)))]
        a, b = chosen["primary"], chosen["secondary"]
        delay = round(float(rng.uniform(0.1, 10.0)), 3)
        inverted = a if rng.random() < 0.5 else b
        p[b]["delay_ms"] = delay
        p[inverted]["polarity_inverted"] = True
        pair = {"primary": a, "secondary": b, "delayed": b, "delay_ms": delay, "inverted": inverted}
    low = [n for n in names if p[n]["role"] in _LOW_ROLES]
    taken = [clipped]
    for rate, pool in ((22050, low), (48000, names), (96000, names)):
        n = pick(pool, taken)
        if n:
            p[n]["sample_rate"] = rate
            taken.append(n)
    m2s = pick(mono)
    if m2s:
        p[m2s]["channels"]["damaged"] = 2
    s2m = pick(stereo)
    if s2m:
        p[s2m]["channels"]["damaged"] = 1
    # Integer-only containers go to stems that are turned down, so no overs force WAV.
    quiet = [n for n in names if p[n]["gain_db"] <= 0.0 and not p[n]["clip"]] or names
    flac = pick(quiet)
    p[flac]["container"] = "FLAC"
    aiff = pick(quiet, [flac]) or pick(names, [flac])
    if aiff:
        p[aiff]["container"] = "AIFF"
    for n in (flac, aiff):
        if n and p[n]["subtype"] == "FLOAT":
            p[n]["subtype"] = "PCM_24"  # FLAC holds integers only; plain AIFF too (float needs AIFF-C)
    return {"stems": p, "pair": pair}


def apply(x: np.ndarray, d: dict, rng: np.random.Generator) -> np.ndarray:
    """Apply one stem's planned damage to its clean audio (44.1 kHz); fills in measures."""
    y = x.copy()
    if d["delay_ms"]:
        y = audio.fractional_delay(y, d["delay_ms"] / 1000.0)
    if d["polarity_inverted"]:
        y = -y
    if d["tilt"]:
        y = tilt(y, d["tilt"]["db_per_octave"], d["tilt"]["pivot_hz"], d["tilt"]["limit_db"])
    if d["clip"]:
        # The whole gain is what takes the stem's peak to full scale plus the drive.
        d["gain_db"] = round(d["clip"]["drive_db"] - audio.peak_db(y), 2)
    y = y * audio.db_to_gain(d["gain_db"])
    frames, ch = y.shape
    if d["hum"]:
        h, info = hum(rng, frames, ch, d["hum"]["mains_hz"], d["hum"]["fundamental_rms_dbfs"])
        y = y + h
        d["hum"] = info
    if d["hiss"]:
        noise = rng.standard_normal((frames, ch)) if d["hiss"]["color"] == "white" else pink_noise(rng, frames, ch)
        y = y + noise * audio.db_to_gain(d["hiss"]["rms_dbfs"])
    if d["clip"]:
        d["clip"]["clipped_samples"] = int(np.sum(np.abs(y) >= 1.0))
        y = np.clip(y, -1.0, 1.0)
    y = y + d["dc_offset"]
    if d["channels"]["damaged"] != ch:
        y = np.repeat(y, 2, axis=1) if ch == 1 else y.mean(axis=1, keepdims=True)
    if d["sample_rate"] != RATE:
        y = audio.resample(y, RATE, d["sample_rate"])  # never the clipped stem: see plan()
    over = float(np.max(np.abs(y)))
    if not d["clip"] and over >= 1.0:
        d["subtype"] = "FLOAT"
        d["overs"] = True
        d["container"] = "WAV"  # float overs need WAV: see plan()
    d["peak_dbfs"] = round(audio.gain_to_db(over), 2)
    return y


def damage_song(song_dir: Path, force: bool = False) -> str:
    """Damage one built song folder; returns a one-line summary."""
    song_dir = Path(song_dir)
    out_json = song_dir / "damage.json"
    if out_json.exists() and not force:
        return "damage skipped (built)"
    ref = json.loads((song_dir / "reference.json").read_text())
    song = ref["song"]
    seed = _seed(song, "damage")
    rng = np.random.default_rng(seed)
    decided = plan(ref["stems"], ref.get("pairs", []), rng)
    out_dir = song_dir / "damaged"
    out_dir.mkdir(exist_ok=True)
    for old in out_dir.iterdir():
        if old.is_file():
            old.unlink()
    ext = {"WAV": ".wav", "FLAC": ".flac", "AIFF": ".aiff"}
    for name, d in decided["stems"].items():
        x, rate = audio.read_audio(song_dir / "stems" / name)
        if rate != RATE:
            raise RuntimeError(f"{song_dir / 'stems' / name}: expected {RATE} Hz, got {rate}")
        y = apply(x, d, np.random.default_rng(_seed(song, name, "noise")))
        d["file"] = Path(name).stem + ext[d["container"]]
        audio.write_audio(out_dir / d["file"], y, d["sample_rate"], d["subtype"], d["container"])
    doc = {
        "song": song,
        "seed": seed,
        "clean": "stems/",
        "damaged": "damaged/",
        "note": ("per clean stem: the file it became and each damage; gain_db is the total gain "
                 "applied before noise (undo it with -gain_db); delay and polarity come first, "
                 "formats last"),
        "pair": decided["pair"],
        "stems": decided["stems"],
    }
    tmp = out_json.with_suffix(".json.part")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(out_json)
    return f"damaged {len(decided['stems'])} stems"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", type=Path, default=HERE / "corpus")
    p.add_argument("--songs", default="", help="comma-separated song names (default: every built song)")
    p.add_argument("--force", action="store_true", help="redo songs already damaged")
    a = p.parse_args(argv)
    dirs = sorted(d for d in a.corpus.iterdir() if (d / "reference.json").exists()) if a.corpus.exists() else []
    if a.songs:
        wanted = set(a.songs.split(","))
        dirs = [d for d in dirs if d.name in wanted]
    if not dirs:
        print(f"no built songs under {a.corpus}; run build_corpus.py first", file=sys.stderr)
        return 2
    for d in dirs:
        print(f"{d.name}: {damage_song(d, a.force)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
