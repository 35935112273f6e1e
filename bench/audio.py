"""Audio helpers shared by the benchmark scripts: filters, loudness, resampling, files.

Everything here works on whole numpy arrays shaped ``(frames, channels)`` in float64
or float32. The benchmark's songs are at most a few minutes long, so whole-signal
FFT processing is both the simplest and the most exact tool: a biquad applied as
its complex frequency response on a zero-padded FFT equals running the recursive
filter (up to the tail past the padding, which has decayed by then), a fractional
delay is an exact phase ramp, and a resampler is an exact spectrum truncation.

Nothing in this module draws random numbers; callers pass a seeded generator.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import soundfile as sf

#: The rate every clean stem is rendered at.
RATE = 44100

#: Padding, in seconds, added before FFT filtering so the recursive tail does not wrap.
_FFT_PAD_S = 1.0


def db_to_gain(db: float) -> float:
    """Convert decibels to a linear amplitude factor."""
    return 10.0 ** (db / 20.0)


def gain_to_db(gain: float) -> float:
    """Convert a linear amplitude factor to decibels (−inf for 0)."""
    return 20.0 * math.log10(gain) if gain > 0 else -math.inf


def peak_db(x: np.ndarray) -> float:
    """Sample peak in dBFS (−inf for digital silence)."""
    p = float(np.max(np.abs(x))) if x.size else 0.0
    return gain_to_db(p)


def as_2d(x: np.ndarray) -> np.ndarray:
    """View a mono vector as ``(frames, 1)``; leave 2-D arrays alone."""
    return x[:, None] if x.ndim == 1 else x


# --------------------------------------------------------------------------- filters
#
# RBJ "Audio EQ Cookbook" biquads. Each returns (b, a) normalised so a[0] == 1.


def _rbj(kind: str, f0: float, q: float, gain_db: float, rate: float):
    a_lin = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * math.pi * f0 / rate
    cw, sw = math.cos(w0), math.sin(w0)
    alpha = sw / (2.0 * q)
    if kind == "lowpass":
        b = [(1 - cw) / 2, 1 - cw, (1 - cw) / 2]
        a = [1 + alpha, -2 * cw, 1 - alpha]
    elif kind == "highpass":
        b = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2]
        a = [1 + alpha, -2 * cw, 1 - alpha]
    elif kind == "peak":
        b = [1 + alpha * a_lin, -2 * cw, 1 - alpha * a_lin]
        a = [1 + alpha / a_lin, -2 * cw, 1 - alpha / a_lin]
    elif kind == "lowshelf":
        sa = 2 * math.sqrt(a_lin) * alpha
        b = [a_lin * ((a_lin + 1) - (a_lin - 1) * cw + sa),
             2 * a_lin * ((a_lin - 1) - (a_lin + 1) * cw),
             a_lin * ((a_lin + 1) - (a_lin - 1) * cw - sa)]
        a = [(a_lin + 1) + (a_lin - 1) * cw + sa,
             -2 * ((a_lin - 1) + (a_lin + 1) * cw),
             (a_lin + 1) + (a_lin - 1) * cw - sa]
    elif kind == "highshelf":
        sa = 2 * math.sqrt(a_lin) * alpha
        b = [a_lin * ((a_lin + 1) + (a_lin - 1) * cw + sa),
             -2 * a_lin * ((a_lin - 1) + (a_lin + 1) * cw),
             a_lin * ((a_lin + 1) + (a_lin - 1) * cw - sa)]
        a = [(a_lin + 1) - (a_lin - 1) * cw + sa,
             2 * ((a_lin - 1) - (a_lin + 1) * cw),
             (a_lin + 1) - (a_lin - 1) * cw - sa]
    else:
        raise ValueError(f"unknown biquad kind {kind!r}")
    return np.array(b) / a[0], np.array(a) / a[0]


def biquad(kind: str, f0: float, q: float = 0.7071, gain_db: float = 0.0, rate: float = RATE):
    """One RBJ biquad as ``(b, a)``: lowpass, highpass, peak, lowshelf or highshelf."""
    return _rbj(kind, f0, q, gain_db, rate)


def _response(filters, n_fft: int) -> np.ndarray:
    """Complex response of a cascade of biquads at the rfft bins of length n_fft."""
    z = np.exp(-2j * np.pi * np.arange(n_fft // 2 + 1) / n_fft)
    h = np.ones(n_fft // 2 + 1, dtype=complex)
    for b, a in filters:
        h *= (b[0] + b[1] * z + b[2] * z * z) / (a[0] + a[1] * z + a[2] * z * z)
    return h


def smooth_length(n: int) -> int:
    """Smallest 2^a·3^b·5^c·7^d >= n: FFT sizes with only small factors are fast."""
    best = 1 << max(0, (n - 1).bit_length())
    p7 = 1
    while p7 < best:
        p5 = p7
        while p5 < best:
            p3 = p5
            while p3 < best:
                p2 = p3
                while p2 < n:
                    p2 *= 2
                best = min(best, p2)
                p3 *= 3
            p5 *= 5
        p7 *= 7
    return best


def _fft_len(n: int, rate: float) -> int:
    # Padding keeps the causal tail of the filters out of the wrap-around region.
    return smooth_length(int(n + _FFT_PAD_S * rate))


#: Block length of the overlap-add convolution; also the length the filters' impulse
#: responses are cut to (1.5 s at 44.1 kHz, far past the decay of any filter used here).
_OLA_BLOCK = 1 << 16


def impulse_response(filters, length: int = _OLA_BLOCK) -> np.ndarray:
    """The first ``length`` samples of a biquad cascade's impulse response."""
    return np.fft.irfft(_response(filters, 2 * length), 2 * length)[:length]


def apply_filters(x: np.ndarray, filters, rate: float = RATE) -> np.ndarray:
    """Run a cascade of biquads over every channel, causally, as the recursion would.

    Overlap-add FFT convolution with the cascade's impulse response: blocks of 2^16
    keep the transforms in cache, several times faster than one whole-song FFT.
    """
    if not filters:
        return x.copy()
    xt = np.ascontiguousarray(as_2d(np.asarray(x, dtype=np.float64)).T)  # channels x frames
    n, b = xt.shape[1], _OLA_BLOCK
    h = np.fft.rfft(impulse_response(filters, b), 2 * b)
    y = np.zeros((xt.shape[0], n + 2 * b))
    for i in range(0, n, b):
        y[:, i:i + 2 * b] += np.fft.irfft(np.fft.rfft(xt[:, i:i + b], 2 * b) * h, 2 * b)
    return np.ascontiguousarray(y[:, :n].T).reshape(x.shape)


def apply_filters_zero_phase(x: np.ndarray, filters, rate: float = RATE) -> np.ndarray:
    """The magnitude response of a biquad cascade with no phase shift and no delay.

    Used for stems derived from another stem (an amp mic from a DI, overheads from
    close mics), so the clean pair lines up at exactly zero lag and a damage delay is
    the only offset between them.
    """
    def gain_db(freqs):
        z = np.exp(-2j * np.pi * freqs / rate)
        h = np.ones(len(freqs), dtype=complex)
        for b, a in filters:
            h *= (b[0] + b[1] * z + b[2] * z * z) / (a[0] + a[1] * z + a[2] * z * z)
        return 20.0 * np.log10(np.maximum(np.abs(h), 1e-12))
    return apply_magnitude(x, gain_db, rate)


def apply_magnitude(x: np.ndarray, gain_db_of_freq, rate: float = RATE) -> np.ndarray:
    """Zero-phase filter: scale every FFT bin by ``gain_db_of_freq(freqs_hz)`` dB."""
    x2 = as_2d(x)
    n = x2.shape[0]
    n_fft = _fft_len(n, rate)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / rate)
    g = 10.0 ** (np.asarray(gain_db_of_freq(freqs), dtype=float) / 20.0)
    spec = np.fft.rfft(x2, n_fft, axis=0) * g[:, None]
    # Zero phase means the response is symmetric in time: the first samples of the
    # padded tail hold the pre-ringing of the start; a 1 s pad makes it negligible.
    return np.fft.irfft(spec, n_fft, axis=0)[:n].reshape(x.shape)


def fractional_delay(x: np.ndarray, delay_s: float, rate: float = RATE) -> np.ndarray:
    """Delay every channel by ``delay_s`` seconds (any fraction of a sample), same length."""
    x2 = as_2d(x)
    n = x2.shape[0]
    n_fft = _fft_len(n, rate)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / rate)
    ramp = np.exp(-2j * np.pi * freqs * delay_s)
    y = np.fft.irfft(np.fft.rfft(x2, n_fft, axis=0) * ramp[:, None], n_fft, axis=0)[:n]
    return y.reshape(x.shape)


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Band-limited resampling by spectrum truncation or zero extension.

    The time origin is kept: an event at t seconds stays at t seconds. When going
    down, a 5 % raised-cosine taper below the new Nyquist avoids ringing.
    """
    if rate_in == rate_out:
        return x.copy()
    x2 = as_2d(x)
    n = x2.shape[0]
    g = math.gcd(rate_in, rate_out)
    up, down = rate_out // g, rate_in // g
    # Both FFT lengths exact multiples of the ratio's terms and otherwise smooth, so
    # the ratio is exact and both transforms are fast; 0.5 s of padding absorbs wrap.
    m = smooth_length(-(-(n + int(0.5 * rate_in)) // down))
    n_in, n_out = down * m, up * m
    spec = np.fft.rfft(x2, n_in, axis=0)
    bins_out = n_out // 2 + 1
    out = np.zeros((bins_out, x2.shape[1]), dtype=complex)
    keep = min(bins_out, spec.shape[0])
    out[:keep] = spec[:keep]
    if rate_out < rate_in:
        taper_len = max(1, int(0.05 * keep))
        taper = 0.5 * (1 + np.cos(np.linspace(0, np.pi, taper_len)))
        out[keep - taper_len:keep] *= taper[:, None]
    y = np.fft.irfft(out, n_out, axis=0) * (n_out / n_in)
    frames = int(round(n * rate_out / rate_in))
    y = y[:frames]
    return y if x.ndim == 2 else y[:, 0]


# --------------------------------------------------------------------------- loudness


def xcorr(x: np.ndarray, ref: np.ndarray, max_lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Cross-correlation of mono ``x`` against mono ``ref`` at the lags −``max_lag``…
    ``max_lag`` (samples; positive: ``x`` behind ``ref``): ``(lags, values)``, by FFT."""
    n = 1 << int(math.ceil(math.log2(max(len(x) + len(ref), 2))))
    c = np.fft.irfft(np.fft.rfft(x, n) * np.conj(np.fft.rfft(ref, n)), n)
    lags = np.arange(-max_lag, max_lag + 1)
    return lags, np.concatenate([c[n - max_lag:], c[: max_lag + 1]])


def _k_weighting(rate: float):
    # ITU-R BS.1770 pre-filter (high shelf) and RLB high-pass, re-derived for any rate
    # from their analogue parameters (the 48 kHz coefficients of the standard result).
    shelf = _rbj("highshelf", 1681.974450955533, 0.7071752369554196, 3.999843853973347, rate)
    hp = _rbj("highpass", 38.13547087602444, 0.5003270373238773, 0.0, rate)
    return [shelf, hp]


def block_powers(x: np.ndarray, rate: float = RATE, block_s: float = 0.4, hop_s: float = 0.1):
    """Channel-summed K-weighted mean square of overlapping blocks (BS.1770 ``z``)."""
    x2 = as_2d(np.asarray(x, dtype=np.float64))
    k = apply_filters(x2, _k_weighting(rate), rate)
    energy = np.concatenate([[0.0], np.cumsum(np.sum(k * k, axis=1))])
    blk, hop = int(round(block_s * rate)), int(round(hop_s * rate))
    if x2.shape[0] < blk:
        return np.array([energy[-1] / max(1, x2.shape[0])])
    starts = np.arange(0, x2.shape[0] - blk + 1, hop)
    return (energy[starts + blk] - energy[starts]) / blk


def integrated_loudness(x: np.ndarray, rate: float = RATE) -> float:
    """BS.1770-4 gated integrated loudness in LUFS (−inf when all blocks are gated).

    Mono input counts as one channel, as the standard says. The absolute gate at
    −70 LUFS drops digital silence, so a stem that plays a quarter of the song is
    measured where it plays, which is what a balance between stems needs.
    """
    return gated_loudness(block_powers(x, rate))


def gated_loudness(z: np.ndarray) -> float:
    """BS.1770-4 gating (−70 LUFS absolute, −10 LU relative) of block powers ``z``."""
    with np.errstate(divide="ignore"):
        lk = -0.691 + 10.0 * np.log10(z)
    z = z[lk > -70.0]
    if z.size == 0:
        return -math.inf
    rel = -0.691 + 10.0 * math.log10(float(np.mean(z))) - 10.0
    with np.errstate(divide="ignore"):
        z = z[-0.691 + 10.0 * np.log10(z) > rel]
    return -0.691 + 10.0 * math.log10(float(np.mean(z)))


# --------------------------------------------------------------------------- mixing


def pan_gains(pan: float) -> tuple[float, float]:
    """Constant-power pan law: pan −1 (left) … 0 (centre, −3 dB each side) … +1 (right)."""
    theta = (pan + 1.0) * math.pi / 4.0
    return math.cos(theta), math.sin(theta)


def place(stem: np.ndarray, gain_db: float, pan: float) -> np.ndarray:
    """A stem's stereo contribution to a mix bus.

    Mono stems are panned with the constant-power law (so a centred mono stem keeps
    its BS.1770 loudness); stereo stems keep their own image and ``pan`` is a balance
    control that only attenuates the far side.
    """
    g = db_to_gain(gain_db)
    s = as_2d(stem).astype(np.float64)
    if s.shape[1] == 1:
        lg, rg = pan_gains(pan)
        return np.column_stack([s[:, 0] * lg * g, s[:, 0] * rg * g])
    lg = min(1.0, 1.0 - pan) if pan > 0 else 1.0
    rg = min(1.0, 1.0 + pan) if pan < 0 else 1.0
    return np.column_stack([s[:, 0] * lg * g, s[:, 1] * rg * g])


def fade(x: np.ndarray, fade_in_s: float, fade_out_s: float, rate: float = RATE) -> np.ndarray:
    """Raised-cosine fades at both ends, on a copy."""
    y = as_2d(x).copy()
    n = y.shape[0]
    k = min(n, int(fade_in_s * rate))
    if k > 0:
        y[:k] *= (0.5 * (1 - np.cos(np.linspace(0, np.pi, k))))[:, None]
    k = min(n, int(fade_out_s * rate))
    if k > 0:
        y[n - k:] *= (0.5 * (1 + np.cos(np.linspace(0, np.pi, k))))[:, None]
    return y.reshape(x.shape)


# --------------------------------------------------------------------------- files


def write_audio(path: Path, x: np.ndarray, rate: int, subtype: str, fmt: str | None = None) -> None:
    """Write a file atomically (temporary name, then rename).

    Integer subtypes are clipped to full scale first, because libsndfile would
    otherwise wrap values past ±1.0 around.
    """
    path = Path(path)
    data = np.asarray(x, dtype=np.float64)
    if not subtype.startswith(("FLOAT", "DOUBLE")):
        data = np.clip(data, -1.0, 1.0)
    data = as_2d(data)
    tmp = path.with_name(path.name + ".part")
    with sf.SoundFile(tmp, "w", rate, data.shape[1], subtype=subtype, format=fmt or _format_of(path)) as f:
        # No PEAK chunk: libsndfile stamps it with the wall-clock time, and the same
        # audio must give the same bytes.
        sf._snd.sf_command(f._file, _SFC_SET_ADD_PEAK_CHUNK, sf._ffi.NULL, 0)
        f.write(data.astype(np.float64 if subtype == "DOUBLE" else np.float32))
    tmp.replace(path)


#: libsndfile's command number for switching the PEAK chunk of float files (sndfile.h).
_SFC_SET_ADD_PEAK_CHUNK = 0x1050


def _format_of(path: Path) -> str:
    ext = path.suffix.lower().lstrip(".")
    return {"wav": "WAV", "flac": "FLAC", "aif": "AIFF", "aiff": "AIFF"}[ext]


def read_audio(path: Path) -> tuple[np.ndarray, int]:
    """Read any file libsndfile knows as ``(frames, channels)`` float64 and its rate."""
    data, rate = sf.read(str(path), dtype="float64", always_2d=True)
    return data, rate
