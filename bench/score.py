#!/usr/bin/env python3
"""Score a mix of a benchmark song on every metric of DESIGN.md §4.

This is the project's independent check: nothing here calls mixwright's Rust code. A mix
is scored from three things: the mix file, each stem's contribution to it (for mixwright,
``mixwright mix --stems-out DIR``; for the baselines, computed by ``bench.py``) and the
song's truth in the corpus (clean stems, ``reference.json``, ``reference_mix.wav``,
``damage.json``).

Metrics (the keys of ``score_mix``'s result; dB and LU unless named otherwise):

* **delivery**: integrated loudness (BS.1770-4, ``audio.py``) and its error against the
  target; true peak (BS.1770-4 Annex 2: 4× oversampling, polyphase FIR); NaN/Inf count;
  clipped samples (|x| at or past full scale, or where a fixed-point file would wrap).
* **balance**: each stem's gated loudness in the mix minus the mix's, against the
  reference mix's (``loudness_lu_vs_mix`` in reference.json): mean and max |error|.
* **consistency** (``consistency()``): the same per-stem relative loudness, mix of the
  damaged stems against mix of the clean stems by the same method: mean |difference|.
* **audibility**: share of each stem's active frames in which it is not masked by the
  rest of the mix, at ≈85 and ≈60 dB SPL playback (model below), mean and minimum over
  stems.
* **words**: Speech Intelligibility Index per 400 ms frame (ANSI S3.5-1997, model below),
  median and 10th percentile over the frames where the lead sings; the lead's loudness
  relative to the mix; optionally words recognised by pocketsphinx in the mix over
  words recognised in the solo lead (``recognised_words``).
* **spectrum and stereo**: third-octave long-term spectrum distance to the reference mix
  (RMS of the level difference over 31.5 Hz–16 kHz bands after removing the mean
  offset); side/mid energy ratio below 120 Hz (wants ≤ −20 dB: a mono low end) and over
  the whole band (``side_mid_db``, wants −20…−6 dB: a stereo mix, not a mono one nor a
  phasey one); left/right energy balance; loudness lost when folded to mono ((L+R)/2 on
  both sides).
* **repair** (``score_repair``, damaged stems only): noise floor and hum reduction (the
  stem's level where the clean stem is silent, relative to its level where it plays, less
  that floor for the noise, input vs contribution); declipping: SNR gain in the clipped regions (``declip_snr_gain_db``:
  ``mixwright repair``'s automatic path run on the loudest 6 s of the clipped damaged stem,
  SNR against the clean stem put through the same damage chain without the clip, over the
  damaged stem's clipped samples, minus the damaged stem's own SNR there; 0 dB for a
  method that does not repair, as the baselines);
  polarity of the inverted stem and the delay left on the delayed stem, both relative to
  the other stem of the planted pair (cross-correlation peak of the two contributions,
  against the same for the two clean stems): how the pair adds up on the bus, whatever
  phase the console gives every strip alike.

Audibility model (frames 2048 samples, hop 1024 at 44.1 kHz: 46 ms, short enough that a
snare hit stands alone in its frame):
  power spectra per frame (mean of the two channels' power: no binaural unmasking, a
  conservative listener) summed into 29 third-octave bands 25 Hz–16 kHz; the mix is
  calibrated so that its mean power is the playback level (85 or 60 dB SPL); the rest of
  the mix (mix minus the stem, as complex spectra) spreads masking across bands with
  Schroeder's spreading function on the Bark scale (Schroeder, Atal & Hall 1979),
  lowered by 6 dB (Johnston's noise-masker index, 5.5 dB: a mix's rest is dense and
  noise-like); the threshold in quiet is ISO 226:2003's hearing threshold T_f. A stem is
  heard in a frame when, in at least one band, its level passes both thresholds.
  A stem is active in a frame when its own level there is within 20 dB of its loudest
  5 % of frames (``audibility``, DESIGN §4 item 4 as written). ``audibility_sounding``
  takes the loudest 5 % only among the frames where the stem alone would be heard at that
  playback level (some band over the hearing threshold): a snare that plays in 4 % of
  the song otherwise has its "loudest 5 %" in its own decay tails, 50 dB under its hits,
  and is scored on tails the rest of the mix rightly covers.

SII model (ANSI S3.5-1997, one-third-octave procedure, section 4 and Table 3):
  18 bands 160 Hz–8 kHz with the standard's band importance (average speech); the lead
  is the speech, the rest of the mix the noise, both as spectrum levels (band level
  minus 10·log10 bandwidth) with the mix calibrated to the playback level; self-speech
  masking (E−24 dB), upward spread of masking with the standard's slope, the reference
  internal noise spectrum (normal hearing threshold) as the floor, the level distortion
  factor against the standard speech spectrum of normal effort, band audibility
  (E−D+15)/30 clipped to 0…1. Computed at the quiet level (60 dB SPL), where the hearing
  threshold matters, and at the loud level (85 dB SPL).

Usage (mixwright's mix of one song):
  mixwright mix SONG/damaged -o mix.wav --stems-out so/ --json > mix.json
  bench/.venv/bin/python bench/score.py SONG mix.wav so/ [--kind damaged] [--target -14]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy import fft as sfft
from scipy import signal

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import audio  # noqa: E402
import damage  # noqa: E402

RATE = audio.RATE

# ------------------------------------------------------------------ loading


def load_song(song_dir: Path) -> dict:
    """reference.json and damage.json of a corpus song."""
    song_dir = Path(song_dir)
    ref = json.loads((song_dir / "reference.json").read_text())
    dmg_path = song_dir / "damage.json"
    dmg = json.loads(dmg_path.read_text()) if dmg_path.exists() else None
    return {"dir": song_dir, "ref": ref, "damage": dmg}


def stem_name(file_name: str) -> str:
    """A stem's base name: ``snare.aiff`` and ``snare.wav`` are both ``snare``."""
    return Path(file_name).stem


def lead_name(ref: dict) -> str:
    """The lead vocal's base name (the stem that sings the lyric lines)."""
    for name, s in ref["stems"].items():
        if s["role"] == "lead_vocal":
            return stem_name(name)
    raise ValueError(f"{ref['song']}: no lead_vocal stem in reference.json")


def fit_length(x: np.ndarray, frames: int) -> np.ndarray:
    """Pad with silence or cut to ``frames``."""
    x = audio.as_2d(x)
    if x.shape[0] >= frames:
        return x[:frames]
    return np.vstack([x, np.zeros((frames - x.shape[0], x.shape[1]))])


def read_at(path: Path, frames: int, rate: int = RATE) -> np.ndarray:
    """A file as ``(frames, channels)`` float64 at ``rate``, cut or padded to ``frames``."""
    x, r = audio.read_audio(path)
    if r != rate:
        x = audio.resample(x, r, rate)
    return fit_length(x, frames)


def stereo(x: np.ndarray) -> np.ndarray:
    """A stem as heard on the bus: mono centred with the constant-power law (as the
    reference mix places it), stereo kept."""
    x = audio.as_2d(x)
    return audio.place(x, 0.0, 0.0) if x.shape[1] == 1 else x


def read_contributions(stems_out: Path, frames: int, rate: int = RATE) -> dict[str, np.ndarray]:
    """Every ``*.wav`` of a ``--stems-out`` folder, by base name (effect returns keep
    their ``return-…`` names and count as the rest of the mix for every stem)."""
    return {p.stem: stereo(read_at(p, frames, rate)) for p in sorted(Path(stems_out).glob("*.wav"))}


# ------------------------------------------------------------------ level helpers


def _k_weighting_sos(rate: float) -> np.ndarray:
    # BS.1770 K-weighting re-derived for any rate from the analogue prototype, as
    # libebur128 does (high shelf with its own Vb, then the RLB high-pass); at 48 kHz it
    # gives the standard's coefficients. (audio.py's RBJ shelf reads a 997 Hz sine
    # 0.2 dB low, so the scores use this one.)
    k = math.tan(math.pi * 1681.974450955533 / rate)
    q = 0.7071752369554196
    vh = 10.0 ** (3.999843853973347 / 20.0)
    vb = vh ** 0.4996667741545416
    a0 = 1.0 + k / q + k * k
    shelf = [(vh + vb * k / q + k * k) / a0, 2.0 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0,
             1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    k = math.tan(math.pi * 38.13547087602444 / rate)
    q = 0.5003270373238773
    a0 = 1.0 + k / q + k * k
    hp = [1.0, -2.0, 1.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    return np.array([shelf, hp])


_K_SOS = _k_weighting_sos(RATE)


def loudness(x: np.ndarray) -> float:
    """BS.1770-4 gated integrated loudness (LUFS), −inf for silence: K-weighting,
    400 ms blocks every 100 ms, −70 LUFS absolute and −10 LU relative gates."""
    x = audio.as_2d(np.asarray(x, dtype=np.float64))
    k = signal.sosfilt(_K_SOS, x, axis=0)
    energy = np.concatenate([[0.0], np.cumsum(np.sum(k * k, axis=1))])
    blk, hop = int(0.4 * RATE), int(0.1 * RATE)
    if x.shape[0] < blk:
        return audio.gated_loudness(np.array([energy[-1] / max(1, x.shape[0])]))
    starts = np.arange(0, x.shape[0] - blk + 1, hop)
    return audio.gated_loudness((energy[starts + blk] - energy[starts]) / blk)


def db(p, floor: float = 1e-20):
    return 10.0 * np.log10(np.maximum(p, floor))


def true_peak_dbtp(x: np.ndarray) -> float:
    """BS.1770-4 Annex 2 true peak: 4× oversampled with a 48-tap-per-phase polyphase FIR."""
    x = audio.as_2d(x)
    peak = 0.0
    for c in range(x.shape[1]):
        up = signal.resample_poly(x[:, c], 4, 1, window=("kaiser", 8.0))
        peak = max(peak, float(np.max(np.abs(up))), float(np.max(np.abs(x[:, c]))))
    return audio.gain_to_db(peak)


def finite(v):
    """JSON-safe: None for NaN/±inf."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


# ------------------------------------------------------------------ bands and frames

#: Third-octave centres 25 Hz … 16 kHz (base-10 series, IEC 61260).
BAND_CENTRES = 10.0 ** (np.arange(14, 43) / 10.0)
#: ISO 226:2003 Table 1 hearing threshold T_f (dB SPL) at 20 Hz … 12.5 kHz; 16 kHz from
#: ISO 389-7 (free field, ≈ 40 dB at 16 kHz is steep: we take the 14–16 kHz trend).
_ISO226_F = np.array([20, 25, 31.5, 40, 50, 63, 80, 100, 125, 160, 200, 250, 315, 400, 500, 630, 800,
                      1000, 1250, 1600, 2000, 2500, 3150, 4000, 5000, 6300, 8000, 10000, 12500, 16000])
_ISO226_TF = np.array([78.5, 68.7, 59.5, 51.1, 44.0, 37.5, 31.5, 26.5, 22.1, 17.9, 14.4, 11.4, 8.6, 6.2,
                       4.4, 3.0, 2.2, 2.4, 3.5, 1.7, -1.3, -4.2, -6.0, -5.4, -1.5, 6.0, 12.6, 13.9, 12.3, 40.0])
HEARING_THRESHOLD = np.interp(np.log10(BAND_CENTRES), np.log10(_ISO226_F), _ISO226_TF)

FRAME = 2048
HOP = 1024
#: Johnston (1988) noise-masker offset, rounded: masked threshold below the spread masker.
MASK_OFFSET_DB = 6.0
LOUD_SPL = 85.0
QUIET_SPL = 60.0


def bark(f):
    """Traunmüller/Zwicker critical-band rate."""
    return 13.0 * np.arctan(0.00076 * f) + 3.5 * np.arctan((f / 7500.0) ** 2)


def _spreading_matrix() -> np.ndarray:
    # Schroeder et al. (1979): SF(dz) = 15.81 + 7.5(dz+0.474) − 17.5·sqrt(1+(dz+0.474)²) dB,
    # dz = maskee − masker in Bark; 0 dB at dz = 0, −25 dB/Bark upward-sloping below.
    z = bark(BAND_CENTRES)
    dz = z[:, None] - z[None, :]
    sf = 15.81 + 7.5 * (dz + 0.474) - 17.5 * np.sqrt(1.0 + (dz + 0.474) ** 2)
    return 10.0 ** (sf / 10.0)


SPREAD = _spreading_matrix()


def _band_matrix(n_fft: int, centres: np.ndarray) -> np.ndarray:
    """Bins → third-octave bands (edges at centre·2^(±1/6)), as a 0/1 matrix."""
    f = np.fft.rfftfreq(n_fft, 1.0 / RATE)
    lo, hi = centres * 2 ** (-1 / 6), centres * 2 ** (1 / 6)
    return ((f[:, None] >= lo[None, :]) & (f[:, None] < hi[None, :])).astype(np.float64)


BANDS = _band_matrix(FRAME, BAND_CENTRES)
_WINDOW = np.hanning(FRAME)
# Scale so that a bin's power sums to the frame's mean square (Parseval, one-sided).
_POWER_SCALE = 2.0 / (FRAME * np.sum(_WINDOW ** 2))


def stft(x: np.ndarray) -> np.ndarray:
    """Complex spectra ``(channels, frames, bins)`` (complex64), Hann 2048, hop 1024."""
    x = audio.as_2d(x)
    n = max(1, 1 + (x.shape[0] - FRAME) // HOP)
    idx = np.arange(FRAME)[None, :] + HOP * np.arange(n)[:, None]
    out = []
    for c in range(x.shape[1]):
        xc = np.concatenate([x[:, c], np.zeros(FRAME)])
        out.append(sfft.rfft((xc[idx] * _WINDOW).astype(np.float32), axis=1))
    return np.stack(out)


def band_power(spec: np.ndarray) -> np.ndarray:
    """Third-octave band power per frame ``(frames, bands)``, mean of the channels."""
    p = np.mean(np.abs(spec) ** 2, axis=0) * _POWER_SCALE
    return p @ BANDS


def active_frames(frame_power: np.ndarray, among: np.ndarray | None = None) -> np.ndarray:
    """Frames where a signal plays: within 20 dB of its loudest 5 % (of the frames in
    ``among``, when given)."""
    lvl = db(frame_power)
    pool = frame_power > 0
    if among is not None:
        pool &= among
    if not np.any(pool):
        return np.zeros(frame_power.shape, bool)
    top = np.percentile(lvl[pool], 95)
    return (lvl >= top - 20.0) & pool


# ------------------------------------------------------------------ audibility


def audibility(mix_spec: np.ndarray, contribs_spec: dict, spl_offset: dict) -> dict:
    """Share of active frames in which each stem is heard, per playback level: ``all``
    counts its loudest 5 % over the whole song (DESIGN §4 item 4 as written), ``sounding``
    only over the frames where the stem alone would be heard at that level."""
    out = {}
    for name, spec in contribs_spec.items():
        own = band_power(spec)
        rest = band_power(mix_spec - spec)
        power = own.sum(axis=1)
        act = active_frames(power)
        res = {}
        for label, off in spl_offset.items():
            own_spl = db(own) + off
            thr = db(rest @ SPREAD.T) + off - MASK_OFFSET_DB
            heard = np.any(own_spl > np.maximum(thr, HEARING_THRESHOLD[None, :]), axis=1)
            sounding = np.any(own_spl > HEARING_THRESHOLD[None, :], axis=1)
            act_s = active_frames(power, sounding)
            res[label] = {
                "all": float(np.mean(heard[act])) if act.any() else None,
                "sounding": float(np.mean(heard[act_s])) if act_s.any() else None,
            }
        out[name] = res
    return out


# ------------------------------------------------------------------ SII (ANSI S3.5-1997)

SII_CENTRES = np.array([160, 200, 250, 315, 400, 500, 630, 800, 1000, 1250, 1600, 2000, 2500, 3150,
                        4000, 5000, 6300, 8000], dtype=float)
#: Table 3: band importance, one-third-octave procedure, average speech.
SII_IMPORTANCE = np.array([0.0083, 0.0095, 0.0150, 0.0289, 0.0440, 0.0578, 0.0653, 0.0711, 0.0818,
                           0.0844, 0.0882, 0.0898, 0.0868, 0.0844, 0.0771, 0.0527, 0.0364, 0.0185])
#: Table 3: reference internal noise spectrum level X_i (dB), normal hearing.
SII_INTERNAL_NOISE = np.array([0.6, -1.7, -3.9, -6.1, -8.2, -9.7, -10.8, -11.9, -12.5, -13.5, -15.4,
                               -17.7, -21.2, -24.2, -25.9, -24.4, -22.1, -19.7])
#: Table 3: standard speech spectrum level U_i, normal vocal effort (dB).
SII_NORMAL_SPEECH = np.array([32.41, 34.48, 34.75, 33.98, 34.59, 34.27, 32.06, 28.30, 25.01, 23.00,
                              20.15, 17.32, 13.18, 11.55, 9.33, 5.31, 2.59, 1.13])
_SII_IDX = np.array([int(np.argmin(np.abs(BAND_CENTRES - f))) for f in SII_CENTRES])
_SII_BW_DB = 10.0 * np.log10(SII_CENTRES * (2 ** (1 / 6) - 2 ** (-1 / 6)))


def sii(speech_band_db: np.ndarray, noise_band_db: np.ndarray) -> np.ndarray:
    """SII of ``(frames, 18)`` speech and noise band levels (dB SPL)."""
    e = speech_band_db - _SII_BW_DB
    n = noise_band_db - _SII_BW_DB
    v = e - 24.0                                   # self-speech masking
    b = np.maximum(n, v)
    c = -80.0 + 0.6 * (b + 10.0 * np.log10(SII_CENTRES) - 6.353)   # slope, dB/octave
    z = np.empty_like(b)
    z[:, 0] = b[:, 0]
    for i in range(1, len(SII_CENTRES)):
        k = np.arange(i)
        spread = b[:, k] + 3.32 * c[:, k] * np.log10(0.89 * SII_CENTRES[i] / SII_CENTRES[k])
        z[:, i] = 10.0 * np.log10(10 ** (0.1 * n[:, i]) + np.sum(10 ** (0.1 * spread), axis=1))
    d = np.maximum(z, SII_INTERNAL_NOISE[None, :])
    lvl = np.minimum(1.0, 1.0 - (e - SII_NORMAL_SPEECH[None, :] - 10.0) / 160.0)
    k_ = np.clip((e - d + 15.0) / 30.0, 0.0, 1.0)
    return np.sum(SII_IMPORTANCE[None, :] * lvl * k_, axis=1)


def words(mix_spec: np.ndarray, lead_spec: np.ndarray, spl_offset: dict) -> dict:
    """SII per 400 ms over the lead's sung frames, at each playback level."""
    own = band_power(lead_spec)
    rest = band_power(mix_spec - lead_spec)
    per = max(1, int(round(0.4 * RATE / HOP)))       # 17 hops ≈ 395 ms
    m = (own.shape[0] // per) * per
    own4 = own[:m].reshape(-1, per, own.shape[1]).mean(axis=1)
    rest4 = rest[:m].reshape(-1, per, rest.shape[1]).mean(axis=1)
    sung = active_frames(own4.sum(axis=1))
    out = {}
    for label, off in spl_offset.items():
        s = sii(db(own4[:, _SII_IDX]) + off, db(rest4[:, _SII_IDX]) + off)[sung]
        out[label] = {"median": float(np.median(s)), "p10": float(np.percentile(s, 10))} if s.size else None
    return out


# ------------------------------------------------------------------ speech recognition


def _word_list(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def _lcs(a: list[str], b: list[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def recognised_words(x: np.ndarray, lyrics: str, lines: list[dict] | None = None) -> float | None:
    """Share of the lyric words pocketsphinx (en-us model, its own) recognises in ``x``,
    in order (longest common subsequence of words). Decoded per lyric line when the
    line times are known. None when pocketsphinx is not installed."""
    try:
        from pocketsphinx import Decoder
    except ImportError:
        return None
    mono = audio.as_2d(x).mean(axis=1)
    y = audio.resample(mono, RATE, 16000)
    y = y / max(1e-9, float(np.max(np.abs(y)))) * 0.5
    pcm = (y * 32767).astype(np.int16)
    dec = Decoder(samprate=16000, loglevel="FATAL")
    spans = [(l["start_s"], l["end_s"]) for l in lines] if lines else [(0.0, len(y) / 16000)]
    hyp = []
    for s, e in spans:
        seg = pcm[max(0, int((s - 0.3) * 16000)):int((e + 0.3) * 16000)]
        dec.start_utt()
        dec.process_raw(seg.tobytes(), full_utt=True)
        dec.end_utt()
        if dec.hyp() is not None:
            hyp += _word_list(dec.hyp().hypstr)
    truth = _word_list(lyrics)
    return _lcs(truth, hyp) / max(1, len(truth))


# ------------------------------------------------------------------ spectrum and stereo


def band_spectrum(x: np.ndarray) -> np.ndarray:
    """Long-term third-octave band levels (dB) of a whole signal."""
    return db(band_power(stft(x)).mean(axis=0))


def spectrum_distance(mix: np.ndarray, ref_mix: np.ndarray) -> float:
    """RMS over bands 31.5 Hz–16 kHz of the level difference, mean offset removed."""
    d = band_spectrum(mix) - band_spectrum(ref_mix)
    d = d[BAND_CENTRES >= 31.0]
    d = d - d.mean()
    return float(np.sqrt(np.mean(d ** 2)))


def stereo_metrics(x: np.ndarray) -> dict:
    x = audio.as_2d(x)
    if x.shape[1] == 1:
        x = np.column_stack([x[:, 0], x[:, 0]])
    l, r = x[:, 0], x[:, 1]
    mid, side = (l + r) / 2, (l - r) / 2
    # Brick-wall low-pass at 120 Hz on an FFT of a fast length (zero-padded).
    n = sfft.next_fast_len(len(l), real=True)
    low = sfft.rfftfreq(n, 1.0 / RATE) < 120.0
    m_lo = sfft.irfft(sfft.rfft(mid, n) * low, n)
    s_lo = sfft.irfft(sfft.rfft(side, n) * low, n)
    folded = np.column_stack([mid, mid])
    return {
        "side_mid_low_db": float(max(-60.0, db(np.sum(s_lo ** 2)) - db(np.sum(m_lo ** 2)))),
        "side_mid_db": float(max(-60.0, db(np.sum(side ** 2)) - db(np.sum(mid ** 2)))),
        "lr_balance_db": float(db(np.sum(l ** 2)) - db(np.sum(r ** 2))),
        "mono_loss_lu": float(loudness(x) - loudness(folded)),
    }


# ------------------------------------------------------------------ the score


def score_mix(song: dict, mix: np.ndarray, contribs: dict[str, np.ndarray], target_lufs: float = -14.0,
              ceiling_dbtp: float = -1.0, asr: bool = False) -> dict:
    """Every per-mix metric. ``contribs``: each stem's stereo contribution to ``mix``
    (scaled to the mix's level; names are stem base names; others, such as effect
    returns, count only as the rest of the mix)."""
    ref = song["ref"]
    lead = lead_name(ref)
    stems = [stem_name(n) for n in ref["stems"]]
    missing = [s for s in stems if s not in contribs]
    if missing:
        raise ValueError(f"{ref['song']}: no contribution for {missing}")
    mix = audio.as_2d(mix)
    res: dict = {}

    # Delivery.
    lufs = loudness(mix)
    tp = true_peak_dbtp(np.nan_to_num(mix))
    res["delivery"] = {
        "integrated_lufs": finite(lufs),
        "loudness_error_lu": finite(lufs - target_lufs),
        "loudness_ok": bool(abs(lufs - target_lufs) <= 0.5),
        "true_peak_dbtp": finite(tp),
        "true_peak_ok": bool(tp <= ceiling_dbtp + 1e-6),
        "nan_samples": int(np.sum(~np.isfinite(mix))),
        "clipped_samples": int(np.sum(np.abs(np.nan_to_num(mix)) >= 1.0 - 2.0 ** -23)),
    }

    # Balance: each stem's loudness relative to the mix, against the reference mix's.
    rel = {s: finite(loudness(contribs[s]) - lufs) for s in stems}
    errs = {}
    for n, s in ref["stems"].items():
        r = rel[stem_name(n)]
        errs[stem_name(n)] = None if r is None else r - s["loudness_lu_vs_mix"]
    e = np.array([abs(v) if v is not None else 30.0 for v in errs.values()])   # silent stem: 30 dB off
    res["balance"] = {"mean_abs_error_db": float(e.mean()), "max_abs_error_db": float(e.max()),
                      "per_stem_error_db": errs, "rel_lu": rel}

    # Audibility and words on one set of spectra.
    mix_spec = stft(mix)
    mean_power = float(np.mean(band_power(mix_spec).sum(axis=1)))
    offsets = {"loud": LOUD_SPL - db(mean_power), "quiet": QUIET_SPL - db(mean_power)}
    specs = {s: stft(contribs[s]) for s in stems}
    aud = audibility(mix_spec, specs, offsets)
    for key, frames in (("audibility", "all"), ("audibility_sounding", "sounding")):
        res[key] = {}
        for label in offsets:
            per = {k: v[label][frames] for k, v in aud.items()}
            vals = [v for v in per.values() if v is not None]
            res[key][label] = {"mean": float(np.mean(vals)), "min": float(np.min(vals)),
                               "per_stem": per}
    w = words(mix_spec, specs[lead], offsets)
    res["words"] = {
        "sii_quiet_median": w["quiet"]["median"], "sii_quiet_p10": w["quiet"]["p10"],
        "sii_loud_median": w["loud"]["median"], "sii_loud_p10": w["loud"]["p10"],
        "lead_lu_vs_mix": rel[lead],
        "lead_error_db": errs[lead],
    }
    if asr:
        got = recognised_words(mix, ref["lyrics"], ref.get("lyric_lines"))
        res["words"]["recognised_in_mix"] = got

    # Spectrum and stereo.
    ref_mix = read_at(song["dir"] / "reference_mix.wav", mix.shape[0])
    res["spectrum"] = {"distance_db": spectrum_distance(mix, ref_mix), **stereo_metrics(mix)}
    res["spectrum"]["reference"] = stereo_metrics(ref_mix)
    return res


def consistency(clean: dict, damaged: dict) -> dict:
    """Per-stem relative loudness, mix of damaged stems vs mix of clean stems."""
    a, b = clean["balance"]["rel_lu"], damaged["balance"]["rel_lu"]
    d = {k: (None if a[k] is None or b[k] is None else b[k] - a[k]) for k in a}
    v = np.array([abs(x) if x is not None else 30.0 for x in d.values()])
    return {"mean_abs_diff_db": float(v.mean()), "max_abs_diff_db": float(v.max()), "per_stem_db": d}


# ------------------------------------------------------------------ repair


def _gap_and_play(clean: np.ndarray):
    """Frame masks (hop 1024) where the clean stem is silent (≥ 60 dB below its loudest
    5 %) and where it plays (within 20 dB of it)."""
    p = band_power(stft(clean)).sum(axis=1)
    lvl = db(p)
    top = np.percentile(lvl, 95)
    gap = lvl < top - 60.0
    if gap.sum() * HOP < RATE:
        # No second of silence (a part that never rests): its quietest tenth, where
        # that is still 30 dB down, lets the stem's own tail into the measure, equally
        # for every method.
        quiet = lvl <= np.percentile(lvl, 10)
        gap = quiet & (lvl < top - 30.0)
    return gap, lvl >= top - 20.0


def _frame_samples(mask: np.ndarray, n: int) -> np.ndarray:
    """Sample indices of the hops selected by ``mask``."""
    idx = np.flatnonzero(mask)
    s = (idx[:, None] * HOP + np.arange(HOP)[None, :]).ravel()
    return s[s < n]


def _floor_db(x: np.ndarray, gap: np.ndarray, play: np.ndarray) -> float:
    """A signal's level in the clean stem's gaps relative to its music where it plays: the
    power there less the gaps' (the steady floor plays under the music too). Taken whole,
    the playing level of slow_burn's hi-hat, whose hiss is louder than its hits, was 3.2 dB
    of hiss over the hits; the denoiser took that away with the floor, and the measure
    counted it as the music getting quieter: an ideal 20 dB denoiser read 16.8 dB there."""
    p = band_power(stft(x)).sum(axis=1)
    floor = p[gap].mean()
    return float(db(floor) - db(max(p[play].mean() - floor, 1e-20)))


def _hum_db(x: np.ndarray, gap: np.ndarray, play: np.ndarray, mains: float) -> float:
    """Power within ±3 Hz of the mains harmonics 1…7 in the gaps, relative to the
    signal's power where it plays (Welch, 1 Hz bins)."""
    m = audio.as_2d(x).mean(axis=1)
    g = m[_frame_samples(gap, len(m))]
    f, pxx = signal.welch(g, RATE, nperseg=min(len(g), RATE))
    sel = np.zeros_like(f, bool)
    for k in range(1, 8):
        sel |= np.abs(f - k * mains) <= 3.0
    hum_power = np.sum(pxx[sel]) * (f[1] - f[0])
    pl = m[_frame_samples(play, len(m))]
    return float(db(hum_power) - db(np.mean(pl ** 2)))


#: Longest lag searched when lining a repaired excerpt up with its truth, samples.
MAX_CLIP_LAG = 4096
#: Length of the excerpt the declipping score repairs, seconds (the whole stem would take
#: minutes: the declipper solves every clipped frame).
DECLIP_EXCERPT_S = 6.0


def clip_lag(ref: np.ndarray, y: np.ndarray, off: np.ndarray) -> int:
    """Integer lag of ``y`` behind ``ref`` (cross-correlation over the samples in ``off``,
    the unclipped ones), within ±``MAX_CLIP_LAG``."""
    lags, c = audio.xcorr(y.mean(axis=1), np.where(off, ref, 0.0).mean(axis=1), MAX_CLIP_LAG)
    return int(lags[np.argmax(c)])


def clip_snr(ref: np.ndarray, y: np.ndarray, mask: np.ndarray) -> tuple[float, int]:
    """SNR (dB) of ``y`` against ``ref`` over ``mask`` (the clipped samples), once lined up
    and level-matched (least squares) off the mask; and the lag removed."""
    off = ~mask
    lag = clip_lag(ref, y, off)
    y = np.roll(y, -lag, axis=0)
    if lag > 0:
        y[-lag:] = 0.0
    elif lag < 0:
        y[:-lag] = 0.0
    g = np.sum(ref[off] * y[off]) / max(np.sum(y[off] ** 2), 1e-30)
    e = np.sum((ref[mask] - g * y[mask]) ** 2)
    return float(db(np.sum(ref[mask] ** 2) / max(e, 1e-30))), lag


def loudest(x: np.ndarray, rate: int, seconds: float) -> int:
    """Start (samples, whole seconds) of the excerpt of ``seconds`` holding the most energy."""
    e = np.sum(audio.as_2d(x) ** 2, axis=1)
    n, step = int(seconds * rate), rate
    starts = range(0, max(len(e) - n, 0) + 1, step)
    c = np.concatenate([[0.0], np.cumsum(e)])
    return max(starts, key=lambda s0: c[min(s0 + n, len(e))] - c[s0])


def declip_snr_gain(d: Path, clean_name: str, t: dict, binary: str | None) -> dict:
    """``binary repair`` (the automatic path: what the analysis finds) on the loudest
    excerpt of a clipped damaged stem; SNR in the clipped regions against the truth (the
    clean stem through the damage chain before the noise and the clip: delay, polarity,
    tilt, gain), after and before. Hum or hiss planted on the same stem count as error on
    both sides. Without a binary the stem is taken as delivered (a gain of 0 dB: what the
    baselines do)."""
    x, rate = audio.read_audio(d / "damaged" / t["file"])
    x = audio.as_2d(x)
    ref, r = audio.read_audio(d / "stems" / clean_name)
    ref = audio.as_2d(ref)
    if r != rate:
        ref = audio.resample(ref, r, rate)
    if t["delay_ms"]:
        ref = audio.fractional_delay(ref, t["delay_ms"] / 1000.0, rate)
    if t["polarity_inverted"]:
        ref = -ref
    if t["tilt"]:
        ref = damage.tilt(ref, t["tilt"]["db_per_octave"], t["tilt"]["pivot_hz"], t["tilt"]["limit_db"])
    ref = ref * audio.db_to_gain(t["gain_db"])
    if ref.shape[1] != x.shape[1]:
        ref = np.repeat(ref, x.shape[1], axis=1) if ref.shape[1] == 1 else ref.mean(axis=1, keepdims=True)
    n = min(len(x), len(ref))
    s0 = loudest(x[:n], rate, DECLIP_EXCERPT_S)
    s1 = min(s0 + int(DECLIP_EXCERPT_S * rate), n)
    x, ref = x[s0:s1], ref[s0:s1]
    # The clipped samples: at the rail (full scale) in the damaged stem.
    mask = np.abs(x) >= 1.0 - 1e-4
    if not mask.any():
        return {"clipped": 0, "snr_before_db": None, "snr_after_db": None, "gain_db": None}
    if binary is None:
        before, _ = clip_snr(ref, x, mask)
        return {"clipped": int(mask.sum()), "snr_before_db": before, "snr_after_db": before,
                "gain_db": 0.0, "lag": 0}
    with tempfile.TemporaryDirectory(prefix="score-declip.") as tmp:
        src, out = Path(tmp) / t["file"], Path(tmp) / ("repaired-" + t["file"])
        src = src.with_suffix(".wav")
        out = out.with_suffix(".wav")
        audio.write_audio(src, x, rate, "FLOAT")
        subprocess.run([binary, "repair", "-q", str(src), "-o", str(out)], check=True,
                       capture_output=True)
        y, _ = audio.read_audio(out)
    y = fit_length(y, len(x))
    before, _ = clip_snr(ref, x, mask)
    after, lag = clip_snr(ref, y, mask)
    return {"clipped": int(mask.sum()), "snr_before_db": before, "snr_after_db": after,
            "gain_db": after - before, "lag": lag}


def _lag_ms(x: np.ndarray, ref: np.ndarray, max_ms: float = 20.0):
    """Lag of ``x`` behind ``ref`` (ms) at the cross-correlation peak, and its sign."""
    lags, vals = audio.xcorr(audio.as_2d(x).mean(axis=1), audio.as_2d(ref).mean(axis=1),
                             int(max_ms * 1e-3 * RATE))
    i = int(np.argmax(np.abs(vals)))
    return lags[i] * 1000.0 / RATE, float(np.sign(vals[i]))


def score_repair(song: dict, contribs: dict[str, np.ndarray], frames: int,
                 binary: str | None = None) -> dict:
    """Repair metrics from damage.json's truth: the damaged input and the clean stem
    against the stem's contribution to the mix; the declipping gain from ``binary``'s
    ``repair`` on the clipped stem (without a binary, the stem as delivered: the baselines
    repair nothing, a gain of 0 dB)."""
    dmg = song["damage"]
    d = song["dir"]
    noise, hum, clip = {}, {}, {}
    for clean_name, t in dmg["stems"].items():
        name = stem_name(clean_name)
        if not (t["hiss"] or t["hum"] or t["clip"]):
            continue
        clean = read_at(d / "stems" / clean_name, frames)
        inp = stereo(read_at(d / "damaged" / t["file"], frames))
        out = contribs[name]
        gap, play = _gap_and_play(clean)
        enough = gap.sum() * HOP / RATE >= 1.0
        if t["hiss"] and enough:
            noise[name] = _floor_db(inp, gap, play) - _floor_db(out, gap, play)
        if t["hum"] and enough:
            mains = t["hum"]["mains_hz"]
            hum[name] = _hum_db(inp, gap, play, mains) - _hum_db(out, gap, play, mains)
        if t["clip"]:
            clip[name] = declip_snr_gain(d, clean_name, t, binary)
    # The pair against itself: each planted stem's contribution against its partner's,
    # beside the same for the clean stems. What the repair must restore is how the two add
    # up on the bus; measured against the clean stem alone, a phase turn the console gives
    # every strip alike (the low-end mono's all-pass) would read as delay or polarity.
    pair = dmg["pair"]
    clean_of = {f: stereo(read_at(d / "stems" / f, frames)) for f in (pair["primary"], pair["secondary"])}

    def relative(planted: str):
        partner = pair["secondary"] if planted == pair["primary"] else pair["primary"]
        mixed = _lag_ms(contribs[stem_name(planted)], contribs[stem_name(partner)])
        clean = _lag_ms(clean_of[planted], clean_of[partner])
        return mixed[0] - clean[0], mixed[1] * clean[1]

    _, sign = relative(pair["inverted"])
    lag, _ = relative(pair["delayed"])
    gains = [v["gain_db"] for v in clip.values() if v["gain_db"] is not None]
    return {
        "noise_reduction_db": float(np.mean(list(noise.values()))) if noise else None,
        "hum_reduction_db": float(np.mean(list(hum.values()))) if hum else None,
        "declip_snr_gain_db": float(np.mean(gains)) if gains else None,
        "polarity_found": bool(sign > 0),
        "delay_truth_ms": pair["delay_ms"],
        "delay_left_ms": float(lag),
        "per_stem": {"noise_db": noise, "hum_db": hum, "clip": clip},
    }


# ------------------------------------------------------------------ CLI


def scale_to_mix(mix: np.ndarray, contribs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Bring bus contributions (before the master) to the mix's level: one gain, the
    loudness difference between the mix and the sum of the contributions (the master's
    gain; its limiter is not modelled)."""
    bus = sum(contribs.values())
    g = audio.db_to_gain(loudness(mix) - loudness(bus))
    return {k: v * g for k, v in contribs.items()}


def score_files(song_dir: Path, mix_path: Path, stems_out: Path, kind: str = "damaged",
                target_lufs: float = -14.0, asr: bool = False, binary: str | None = None) -> dict:
    """Score a mix file and its ``--stems-out`` folder."""
    song = load_song(song_dir)
    frames = song["ref"]["frames"]
    mix = read_at(mix_path, frames)
    contribs = scale_to_mix(mix, read_contributions(stems_out, frames))
    res = score_mix(song, mix, contribs, target_lufs, asr=asr)
    if kind == "damaged" and song["damage"]:
        res["repair"] = score_repair(song, contribs, frames, binary)
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("song", type=Path, help="corpus song folder (bench/corpus/<song>)")
    p.add_argument("mix", type=Path, help="the mix file")
    p.add_argument("stems_out", type=Path, help="the mix's --stems-out folder")
    p.add_argument("--kind", choices=("damaged", "clean"), default="damaged",
                   help="which stems were mixed (repair is scored for damaged)")
    p.add_argument("--target", type=float, default=-14.0, help="target loudness, LUFS")
    p.add_argument("--asr", action="store_true", help="also count words pocketsphinx recognises")
    p.add_argument("--bin", default=None,
                   help="mixwright binary: scores its automatic declipping of the clipped stem "
                        "(without it the stem is scored as delivered, 0 dB)")
    a = p.parse_args(argv)
    print(json.dumps(score_files(a.song, a.mix, a.stems_out, a.kind, a.target, a.asr, a.bin), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
