"""The benchmark's songs: arrangements written as code, rendered to multitrack stems.

Every song here is made from scratch by this file, so the corpus carries no third
party recordings:

* notes come from small arrangement generators (drum grooves, bass lines, strums,
  arpeggios, pads, stabs, melodies) over a chord progression per section, humanised
  in time and velocity by a random generator seeded from the song and part names,
  so a build is deterministic;
* each part is written as a Standard MIDI File by :func:`midi_bytes` and rendered
  alone with FluidSynth and the FluidR3 GM SoundFont (MIT licence), dry (no reverb,
  no chorus), at 44.1 kHz; drums are rendered one kit piece at a time, so kick,
  snare, hi-hat and toms are close-mic stems and the overheads are the whole kit
  (cymbals loud, shells quieter, high-passed), sample-aligned with the close mics;
* the lead vocal is real words from espeak-ng, one phrase per lyric line, each word
  held on a stepped pitch contour (SSML prosody) and placed on the song's bars;
* each song has a reference balance: the gain in dB a good engineer would give each
  stem (lead vocal loudest, then kick, snare and bass, then harmony instruments, then
  pads and effects), found by aiming every stem's gated BS.1770 loudness at a target
  relative to the lead vocal.

Some songs carry a related pair (close mics and overheads, a DI and an amp, a mic and
a pickup, a piano and its room mic) so that the damage step can flip polarity and
delay one of them against the other.

Renders need ``fluidsynth`` and ``espeak-ng`` on the PATH and the SoundFont at
``/usr/share/sounds/sf2/FluidR3_GM.sf2`` (Debian package ``fluid-soundfont-gm``), or
the path in the ``MIXWRIGHT_SF2`` environment variable.
"""

from __future__ import annotations

import math
import os
import struct
import subprocess
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

import audio
from audio import RATE

#: The SoundFont every instrument comes from.
SF2 = Path(os.environ.get("MIXWRIGHT_SF2", "/usr/share/sounds/sf2/FluidR3_GM.sf2"))

#: Silence before the first downbeat, so humanised early notes never fall before 0 s.
PREROLL_S = 0.25
#: Audio kept after the last bar, for releases and decays.
TAIL_S = 2.5
#: FluidSynth master gain; stems are normalised afterwards, this only sets headroom.
FLUID_GAIN = 0.4

#: The stem roles (the names reference.json uses) and the reference loudness of each
#: relative to the lead vocal, in LU, where it plays.
#: The order is the engineer's priority: voice, then kick, snare and bass, then the
#: harmony instruments, then pads and effects. Songs may override single parts.
ROLE_TARGET_LU = {
    "lead_vocal": 0.0,
    "kick": -3.0,
    "snare": -3.5,
    "bass": -4.0,
    "toms": -5.0,
    "acoustic_guitar": -5.0,
    "piano": -5.0,
    "electric_guitar": -6.0,
    "keys": -7.0,
    "synth": -7.0,
    "brass": -7.0,
    "backing_vocal": -8.0,
    "strings": -9.0,
    "overheads": -9.0,
    "hihat": -11.0,
    "pad": -11.0,
    "percussion": -12.0,
    "room": -12.0,
    "fx": -15.0,
}

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
DORIAN = (0, 2, 3, 5, 7, 9, 10)

# GM percussion keys used by the kit-piece parts.
KICK, SNARE, CLAP = 36, 38, 39
HAT_CLOSED, HAT_PEDAL, HAT_OPEN = 42, 44, 46
TOM_LOW, TOM_MID, TOM_HIGH = 45, 47, 50
CRASH, RIDE, RIDE_BELL, CRASH2 = 49, 51, 53, 57
SHAKER = 82

# GM drum kits (program numbers on the percussion channel).
KIT_STANDARD, KIT_ROOM, KIT_POWER, KIT_808, KIT_BRUSH = 0, 8, 16, 25, 40


# =========================================================================== data


@dataclass(frozen=True)
class Note:
    """One note: start and length in seconds, MIDI key, velocity 1–127."""

    start: float
    dur: float
    pitch: int
    vel: int


@dataclass(frozen=True)
class Phrase:
    """One lyric line: the words, where its slot starts and how long the slot is (s),
    and the pitch step of each word in semitones above the voice's base pitch."""

    text: str
    start: float
    slot: float
    steps: tuple[int, ...]


@dataclass
class Track:
    """One stem of a song (or a hidden part that only feeds a derived stem).

    ``kind`` says how it is made:

    * ``"midi"``: ``notes`` rendered with GM ``program`` (``drums``: on the percussion
      channel, ``program`` then picks the kit);
    * ``"derived"``: made from other tracks' audio by ``process`` (``"overheads"``,
      ``"amp"``, ``"pickup"``, ``"room"``, ``"sub"``) from ``sources``
      (track name, level in dB);
    * ``"voice"``: ``phrases`` spoken by espeak-ng voice ``voice`` at ``wpm`` words
      a minute and base pitch ``pitch`` (0–99).
    """

    name: str
    role: str
    kind: str
    stereo: bool = False
    program: int = 0
    drums: bool = False
    notes: list[Note] = field(default_factory=list)
    process: str = ""
    sources: list[tuple[str, float]] = field(default_factory=list)
    phrases: list[Phrase] = field(default_factory=list)
    voice: str = ""
    wpm: int = 150
    pitch: int = 50
    pan: float = 0.0
    target_lu: float | None = None
    hidden: bool = False
    description: str = ""

    @property
    def file(self) -> str:
        """The stem's file name in the corpus (the example song uses .flac instead)."""
        return f"{self.name}.wav"

    @property
    def target(self) -> float:
        """Reference loudness relative to the lead vocal (LU)."""
        return ROLE_TARGET_LU[self.role] if self.target_lu is None else self.target_lu


@dataclass
class Song:
    """A whole arrangement: timing, harmony, tracks, lyrics and related pairs."""

    name: str
    style: str
    tempo: float
    key: str
    sections: list[tuple[str, float, float]]  # (name, start s, end s)
    end_s: float
    tracks: list[Track]
    pairs: list[tuple[str, str]]  # (close/primary stem, related/secondary stem)
    seed: int

    @property
    def frames(self) -> int:
        """Length of every stem in frames (all stems are sample-aligned and equal)."""
        return int(math.ceil((self.end_s + TAIL_S) * RATE))

    @property
    def stems(self) -> list[Track]:
        """The tracks written as files."""
        return [t for t in self.tracks if not t.hidden]

    def lyrics(self) -> str:
        """The lead vocal's words, one line per phrase."""
        lead = [t for t in self.tracks if t.role == "lead_vocal"]
        return "\n".join(p.text for t in lead for p in t.phrases)


def stable_seed(*parts: object) -> int:
    """A seed that depends only on the given names (crc32; not Python's salted hash)."""
    return zlib.crc32("/".join(str(p) for p in parts).encode())


# =========================================================================== harmony and time


class Key:
    """A key: tonic pitch class (0 = C) and a seven-note mode."""

    NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

    def __init__(self, tonic: int, mode: tuple[int, ...], mode_name: str):
        self.tonic, self.mode, self.mode_name = tonic % 12, mode, mode_name

    def __str__(self) -> str:
        return f"{self.NAMES[self.tonic]} {self.mode_name}"

    def degree(self, d: int, octave: int) -> int:
        """MIDI key of scale degree ``d`` (0-based, any integer) from C of ``octave``."""
        o, i = divmod(d, 7)
        return 12 * (octave + 1 + o) + self.tonic + self.mode[i]

    def chord(self, root: int, octave: int, size: int = 3) -> list[int]:
        """Stacked thirds on scale degree ``root``."""
        return [self.degree(root + 2 * k, octave) for k in range(size)]


@dataclass
class Bar:
    """One bar of the form: index, section, chord degree, start time and length (s)."""

    index: int
    section: str
    chord: int
    start: float
    length: float
    first: bool  # first bar of its section
    last: bool   # last bar of its section


class Form:
    """The song's bars in order, with their sections and chords.

    ``sections`` is a list of ``(name, bars, progression)``; the progression (scale
    degrees, one per bar) repeats over the section.
    """

    def __init__(self, tempo: float, sections, beats_per_bar: int = 4):
        self.tempo = tempo
        self.beat = 60.0 / tempo
        self.bar_len = self.beat * beats_per_bar
        self.beats_per_bar = beats_per_bar
        self.bars: list[Bar] = []
        self.spans: list[tuple[str, float, float]] = []
        t = PREROLL_S
        for name, n, prog in sections:
            start = t
            for i in range(n):
                self.bars.append(Bar(len(self.bars), name, prog[i % len(prog)], t, self.bar_len,
                                     i == 0, i == n - 1))
                t += self.bar_len
            self.spans.append((name, start, t))
        self.end = t

    def in_sections(self, names) -> list[Bar]:
        """The bars of the named sections (``None`` means every bar)."""
        return [b for b in self.bars if names is None or b.section in names]


class Humanizer:
    """Small random deviations in time and velocity, as a player makes them."""

    def __init__(self, rng: np.random.Generator, time_sd: float = 0.006, vel_sd: float = 6.0):
        self.rng, self.time_sd, self.vel_sd = rng, time_sd, vel_sd

    def note(self, start: float, dur: float, pitch: int, vel: float) -> Note:
        t = start + float(np.clip(self.rng.normal(0.0, self.time_sd), -3 * self.time_sd, 3 * self.time_sd))
        v = int(np.clip(round(vel + self.rng.normal(0.0, self.vel_sd)), 1, 127))
        return Note(max(0.0, t), max(0.02, dur), int(pitch), v)


# =========================================================================== arrangement generators


def drum_groove(form: Form, rng: np.random.Generator, style: str, sections=None,
                fills: bool = True) -> dict[str, list[Note]]:
    """Kick, snare, hat, tom and cymbal notes for a groove ``style``.

    Styles: ``rock`` (8th hats, backbeat), ``pop`` (8th hats, syncopated kick),
    ``four`` (four on the floor, off-beat open hats, clap), ``halftime`` (snare on 3),
    ``funk`` (16th hats, ghost notes), ``brush`` (jazz: ride pattern, soft snare),
    ``dense`` (rock with 16th hats and double kicks). A crash marks each section's
    first bar; a tom fill ends sections when ``fills``.
    """
    h = Humanizer(rng, 0.004, 7.0)
    b = form.beat
    out = {k: [] for k in ("kick", "snare", "hihat", "toms", "cymbals")}
    bars = form.in_sections(sections)
    for bar in bars:
        t0 = bar.start
        fill = fills and bar.last and bar.index != form.bars[-1].index and style not in ("four", "brush")
        beats = 3 if fill else 4
        if style in ("rock", "dense", "pop"):
            kicks = {"rock": [0, 2, 2.5], "dense": [0, 0.75, 2, 2.5, 3.25], "pop": [0, 1.5, 2.5]}[style]
            for k in kicks:
                if k < beats:
                    out["kick"].append(h.note(t0 + k * b, 0.2, KICK, 112 if k in (0, 2) else 98))
            for s in (1, 3):
                if s < beats:
                    out["snare"].append(h.note(t0 + s * b, 0.2, SNARE, 115))
            step = 0.25 if style == "dense" else 0.5
            for i in range(int(beats / step)):
                acc = 100 if (i * step) % 1 == 0 else 72
                out["hihat"].append(h.note(t0 + i * step * b, 0.1, HAT_CLOSED, acc))
        elif style == "four":
            for k in range(4):
                out["kick"].append(h.note(t0 + k * b, 0.2, KICK, 118))
                out["hihat"].append(h.note(t0 + (k + 0.5) * b, 0.15, HAT_OPEN, 88))
                out["hihat"].append(h.note(t0 + k * b, 0.05, HAT_CLOSED, 64))
            for s in (1, 3):
                out["snare"].append(h.note(t0 + s * b, 0.2, CLAP, 112))
        elif style == "halftime":
            out["kick"].append(h.note(t0, 0.3, KICK, 108))
            if rng.random() < 0.5:
                out["kick"].append(h.note(t0 + 2.5 * b, 0.3, KICK, 92))
            if beats > 2:
                out["snare"].append(h.note(t0 + 2 * b, 0.3, SNARE, 104))
            for i in range(beats * 2):
                out["hihat"].append(h.note(t0 + i * 0.5 * b, 0.1, HAT_CLOSED if i % 4 != 3 else HAT_PEDAL,
                                           80 if i % 2 == 0 else 58))
        elif style == "funk":
            for k in (0, 0.75, 2.25, 2.5):
                if k < beats:
                    out["kick"].append(h.note(t0 + k * b, 0.2, KICK, 110))
            for s in (1, 3):
                if s < beats:
                    out["snare"].append(h.note(t0 + s * b, 0.2, SNARE, 116))
            for g in (1.75, 2.75, 3.5):
                if g < beats and rng.random() < 0.6:
                    out["snare"].append(h.note(t0 + g * b, 0.1, SNARE, 42))
            for i in range(beats * 4):
                vel = 96 if i % 4 == 0 else (78 if i % 2 == 0 else 56)
                pitch = HAT_OPEN if i % 8 == 6 else HAT_CLOSED
                out["hihat"].append(h.note(t0 + i * 0.25 * b, 0.08, pitch, vel))
        elif style == "brush":
            out["kick"].append(h.note(t0, 0.3, KICK, 84))
            out["kick"].append(h.note(t0 + 2 * b, 0.3, KICK, 70))
            for s in (1, 3):
                out["snare"].append(h.note(t0 + s * b, 0.3, SNARE, 78))
            for k in (0, 1, 1 + 2 / 3, 2, 3, 3 + 2 / 3):  # swung ride
                out["cymbals"].append(h.note(t0 + k * b, 0.3, RIDE, 82 if k % 1 == 0 else 62))
            for k in (1, 3):
                out["hihat"].append(h.note(t0 + k * b, 0.1, HAT_PEDAL, 70))
        else:
            raise ValueError(f"unknown groove {style!r}")
        if fill:
            toms = [TOM_HIGH, TOM_HIGH, TOM_MID, TOM_MID, TOM_LOW, TOM_LOW]
            if rng.random() < 0.5:
                toms = [TOM_HIGH, TOM_MID, TOM_MID, TOM_LOW, TOM_LOW, TOM_LOW]
            for i, p in enumerate(toms):
                out["toms"].append(h.note(t0 + (3 + i / 6) * b, 0.3, p, 100 + 3 * i))
        if bar.first and style != "brush":
            out["cymbals"].append(h.note(t0, 1.5, CRASH if bar.index % 2 == 0 else CRASH2, 110))
        if style == "dense" and not bar.first:
            out["cymbals"].append(h.note(t0 + 2 * b, 0.5, RIDE_BELL, 70))
    return out


def bass_line(form: Form, rng: np.random.Generator, key: Key, pattern: str, octave: int = 1,
              sections=None) -> list[Note]:
    """A bass part on the chord roots: ``eighths``, ``root_fifth``, ``syncopated``,
    ``whole``, ``walking`` or ``funk``."""
    h = Humanizer(rng, 0.006, 6.0)
    b = form.beat
    notes = []
    for bar in form.in_sections(sections):
        root = key.degree(bar.chord, octave)
        fifth = key.degree(bar.chord + 4, octave)
        t0 = bar.start
        if pattern == "eighths":
            for i in range(8):
                notes.append(h.note(t0 + i * 0.5 * b, 0.45 * b, root, 100 if i % 2 == 0 else 86))
        elif pattern == "root_fifth":
            for i, p in enumerate((root, root, fifth, root + 12 if rng.random() < 0.3 else root)):
                notes.append(h.note(t0 + i * b, 0.9 * b, p, 98 if i % 2 == 0 else 84))
        elif pattern == "syncopated":
            for k, d, p in ((0, 0.75, root), (0.75, 0.7, root), (1.5, 0.5, root), (2.5, 0.45, fifth),
                            (3, 0.45, root), (3.5, 0.45, root + 12)):
                notes.append(h.note(t0 + k * b, d * b, p, 104 if k == 0 else 88))
        elif pattern == "whole":
            notes.append(h.note(t0, 3.8 * b, root, 92))
        elif pattern == "walking":
            steps = [root, key.degree(bar.chord + 2, octave), fifth, key.degree(bar.chord + 5, octave)]
            for i, p in enumerate(steps):
                notes.append(h.note(t0 + i * b, 0.85 * b, p, 90 if i == 0 else 78))
        elif pattern == "funk":
            for k, d, p in ((0, 0.4, root), (0.75, 0.2, root + 12), (1.5, 0.25, root), (2, 0.2, fifth),
                            (2.75, 0.2, root + 12), (3.25, 0.25, key.degree(bar.chord + 6, octave))):
                notes.append(h.note(t0 + k * b, d * b, p, 110 if k == 0 else 92))
        else:
            raise ValueError(f"unknown bass pattern {pattern!r}")
    return notes


def power_chords(form: Form, rng: np.random.Generator, key: Key, octave: int = 2, sections=None,
                 rhythm: str = "eighths", fifth_up: bool = False) -> list[Note]:
    """Root–fifth(–octave) power chords, palm-muted eighths or held whole bars."""
    h = Humanizer(rng, 0.008, 6.0)
    b = form.beat
    notes = []
    for bar in form.in_sections(sections):
        root = key.degree(bar.chord, octave)
        voicing = [root, root + 7, root + 12] if not fifth_up else [root + 7, root + 12, root + 19]
        hits = [(i * 0.5, 0.42, 96 if i % 2 == 0 else 82) for i in range(8)] if rhythm == "eighths" \
            else [(0, 3.9, 100)]
        for k, d, v in hits:
            for j, p in enumerate(voicing):  # a pick stroke: strings a few ms apart
                notes.append(h.note(bar.start + k * b + 0.004 * j, d * b, p, v))
    return notes


def strum(form: Form, rng: np.random.Generator, key: Key, octave: int = 3, sections=None) -> list[Note]:
    """An acoustic strum: six-string voicings, down/up strokes on a D-DU-UDU pattern."""
    h = Humanizer(rng, 0.007, 7.0)
    b = form.beat
    notes = []
    pattern = ((0, "d"), (1, "d"), (1.5, "u"), (2.5, "u"), (3, "d"), (3.5, "u"))
    for bar in form.in_sections(sections):
        tri = key.chord(bar.chord, octave)
        voicing = [tri[0] - 12, tri[2] - 12, tri[0], tri[1], tri[2], tri[0] + 12]  # open-position shape
        for k, direction in pattern:
            strings = voicing if direction == "d" else voicing[::-1][:4]
            spread = 0.011 if direction == "d" else 0.008
            vel = 92 if direction == "d" else 72
            for j, p in enumerate(strings):
                notes.append(h.note(bar.start + k * b + j * spread, 0.95 * b, p, vel - 2 * j))
    return notes


def arpeggio(form: Form, rng: np.random.Generator, key: Key, octave: int = 4, sections=None,
             rate: float = 0.5, size: int = 4, length: float = 0.9, vel: int = 84) -> list[Note]:
    """Chord tones one after another, every ``rate`` beats, up and back down."""
    h = Humanizer(rng, 0.004, 5.0)
    b = form.beat
    notes = []
    for bar in form.in_sections(sections):
        tones = key.chord(bar.chord, octave, size)
        cycle = tones + tones[-2:0:-1]
        for i in range(int(form.beats_per_bar / rate)):
            notes.append(h.note(bar.start + i * rate * b, length * rate * b, cycle[i % len(cycle)],
                                vel + (10 if i % 4 == 0 else 0)))
    return notes


def block_chords(form: Form, rng: np.random.Generator, key: Key, octave: int = 4, sections=None,
                 hits=((0, 1.8), (2, 1.8)), size: int = 4, vel: int = 80, bass_note: bool = False) -> list[Note]:
    """Chords struck on the given ``(beat, length in beats)`` hits of each bar."""
    h = Humanizer(rng, 0.006, 6.0)
    b = form.beat
    notes = []
    for bar in form.in_sections(sections):
        tones = key.chord(bar.chord, octave, size)
        if bass_note:
            tones = [key.degree(bar.chord, octave - 2)] + tones
        for k, d in hits:
            for j, p in enumerate(tones):
                notes.append(h.note(bar.start + k * b + 0.003 * j, d * b, p, vel))
    return notes


def sustained(form: Form, rng: np.random.Generator, key: Key, octave: int = 4, sections=None,
              size: int = 3, vel: int = 78, spread: bool = False) -> list[Note]:
    """Whole-bar chords tied over the bar line (pads, strings, organ)."""
    h = Humanizer(rng, 0.01, 4.0)
    notes = []
    for bar in form.in_sections(sections):
        tones = key.chord(bar.chord, octave, size)
        if spread:
            tones = [tones[0] - 12] + tones[1:] + [tones[0] + 12]
        for p in tones:
            notes.append(h.note(bar.start, bar.length * 0.98, p, vel))
    return notes


def stabs(form: Form, rng: np.random.Generator, key: Key, octave: int = 4, sections=None) -> list[Note]:
    """Short horn-section hits on syncopated off-beats."""
    h = Humanizer(rng, 0.005, 6.0)
    b = form.beat
    notes = []
    for bar in form.in_sections(sections):
        tones = key.chord(bar.chord, octave, 3)
        for k in ((1.5, 3) if bar.index % 2 == 0 else (0.5, 2.5, 3.5)):
            for p in tones:
                notes.append(h.note(bar.start + k * b, 0.3 * b, p, 104))
    return notes


def melody(form: Form, rng: np.random.Generator, key: Key, octave: int = 5, sections=None,
           density: float = 0.6, vel: int = 92, long: bool = False) -> list[Note]:
    """A stepwise melody that favours chord tones on strong beats."""
    h = Humanizer(rng, 0.006, 6.0)
    b = form.beat
    notes = []
    degree = 2
    step = 2.0 if long else 0.5
    for bar in form.in_sections(sections):
        t = 0.0
        while t < form.beats_per_bar - 1e-9:
            dur = step if not long else step * (1 + int(rng.random() < 0.3))
            if t % 1 == 0 or rng.random() < density:
                if t % 2 == 0:
                    degree = bar.chord + 2 * int(rng.integers(0, 3))
                else:
                    degree += int(rng.choice((-1, 1, 1, -2, 2)))
                degree = int(np.clip(degree, -3, 10))
                notes.append(h.note(bar.start + t * b, min(dur, form.beats_per_bar - t) * b * 0.92,
                                    key.degree(degree, octave), vel))
            t += dur
    return notes


def risers(form: Form, rng: np.random.Generator, key: Key, octave: int = 5) -> list[Note]:
    """An effect swell over the last bar of each section (into the next one)."""
    h = Humanizer(rng, 0.0, 3.0)
    notes = []
    for bar in form.bars:
        if bar.last and bar.index != form.bars[-1].index:
            notes.append(h.note(bar.start, bar.length, key.degree(bar.chord, octave), 96))
            notes.append(h.note(bar.start, bar.length, key.degree(bar.chord + 4, octave), 90))
    return notes


def lyric_phrases(form: Form, rng: np.random.Generator, lines: list[str], sections,
                  bars_per_line: int = 2, offset_beats: float = 0.5, contour=(0, 2, 4, 5, 4, 2, 0, -1)
                  ) -> list[Phrase]:
    """Place lyric lines one after another on the bars of ``sections``.

    A line starts ``offset_beats`` into its first bar and may use all but the last
    beat of its ``bars_per_line`` bars. Lines run out before the bars do only if there
    are fewer lines than slots; surplus lines are dropped. Each word gets a pitch step
    drawn around the song's contour, as a sung line would rise and fall.
    """
    bars = form.in_sections(sections)
    phrases = []
    i = 0
    for li, line in enumerate(lines):
        if i + bars_per_line > len(bars):
            break
        start = bars[i].start + offset_beats * form.beat
        slot = bars_per_line * form.bar_len - offset_beats * form.beat - form.beat
        words = line.split()
        steps = tuple(int(contour[(li + w) % len(contour)] + rng.integers(-1, 2)) for w in range(len(words)))
        phrases.append(Phrase(line, start, slot, steps))
        i += bars_per_line
    return phrases


# =========================================================================== MIDI


def _vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(reversed(out))


#: Ticks per second of the files we write (tempo 120 bpm, 1000 ticks a quarter note).
_TICKS_PER_S = 2000


def midi_bytes(notes: list[Note], program: int, drums: bool) -> bytes:
    """A one-track Standard MIDI File (format 0) that plays ``notes``.

    Times are written on a fixed 0.5 ms grid (tempo 120, 1000 ticks per quarter);
    the song's tempo lives in the note times, not in the file. Overlapping notes of the
    same key are shortened so every note-off closes its own note. Volume, expression
    and pan are set explicitly and the effect sends to zero, so stems come out dry.
    """
    ch = 9 if drums else 0
    events: list[tuple[int, int, bytes]] = [
        (0, 0, b"\xff\x51\x03" + (500000).to_bytes(3, "big")),
        (0, 0, bytes([0xB0 | ch, 7, 100])),
        (0, 0, bytes([0xB0 | ch, 11, 127])),
        (0, 0, bytes([0xB0 | ch, 10, 64])),
        (0, 0, bytes([0xB0 | ch, 91, 0])),
        (0, 0, bytes([0xB0 | ch, 93, 0])),
        (0, 0, bytes([0xC0 | ch, program & 0x7F])),
    ]
    by_key: dict[int, list[Note]] = {}
    for n in notes:
        by_key.setdefault(n.pitch, []).append(n)
    for pitch in sorted(by_key):
        seq = sorted(by_key[pitch], key=lambda n: (n.start, n.dur))
        for i, n in enumerate(seq):
            on = int(round(n.start * _TICKS_PER_S))
            off = int(round((n.start + n.dur) * _TICKS_PER_S))
            if i + 1 < len(seq):
                off = min(off, int(round(seq[i + 1].start * _TICKS_PER_S)))
            if off <= on:
                continue
            # Sort key: note-offs (0) before note-ons (1) at the same tick.
            events.append((on, 1, bytes([0x90 | ch, pitch, n.vel])))
            events.append((off, 0, bytes([0x80 | ch, pitch, 0])))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    body = bytearray()
    last = 0
    for tick, _, data in events:
        body += _vlq(tick - last) + data
        last = tick
    body += _vlq(0) + b"\xff\x2f\x00"
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, 1000) + b"MTrk" + struct.pack(">I", len(body)) + bytes(body)


# =========================================================================== rendering


def render_midi(notes: list[Note], program: int, drums: bool, frames: int, workdir: Path) -> np.ndarray:
    """Render a part with FluidSynth; returns ``(frames, 2)`` float64.

    FluidSynth's fast render never finishes on some sustained programs, so it writes
    raw float frames to a pipe and we read exactly the song's length, then stop it.
    """
    mid = Path(workdir) / "part.mid"
    mid.write_bytes(midi_bytes(notes, program, drums))
    cmd = ["fluidsynth", "-n", "-i", "-q", "-g", str(FLUID_GAIN), "-r", str(RATE), "-R", "0", "-C", "0",
           "-o", "synth.polyphony=512", "-O", "float", "-E", "little", "-T", "raw", "-F", "-",
           str(SF2), str(mid)]
    want = frames * 2 * 4
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        buf = bytearray()
        while len(buf) < want:
            chunk = proc.stdout.read(want - len(buf))
            if not chunk:
                break  # the render ended by itself before the song did: rest is silence
            buf += chunk
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    got = np.frombuffer(bytes(buf[: len(buf) // 8 * 8]), dtype="<f4").reshape(-1, 2)
    out = np.zeros((frames, 2))
    out[: len(got)] = got
    return out


def speak(text: str, steps: tuple[int, ...], voice: str, wpm: int, pitch: int, workdir: Path) -> np.ndarray:
    """Speak one line with espeak-ng; returns mono float64 at 44.1 kHz, silence trimmed.

    Each word is held at a flat pitch (``range="x-low"``) raised by its step, so the
    line moves in steps like a sung one while the words stay those of speech.
    """
    words = text.split()
    ssml = "<speak>" + " ".join(
        f'<prosody range="x-low" pitch="{_pct(s):+d}%">{escape(w)}</prosody>' for w, s in zip(words, steps)
    ) + "</speak>"
    wav = Path(workdir) / "phrase.wav"
    subprocess.run(["espeak-ng", "-m", "-v", voice, "-s", str(wpm), "-p", str(pitch), "-w", str(wav), ssml],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    x, rate = audio.read_audio(wav)
    x = x[:, 0]
    if x.size == 0:
        raise RuntimeError(f"espeak-ng produced no audio for {text!r}")
    x = audio.resample(x, rate, RATE)
    above = np.nonzero(np.abs(x) > 0.01 * np.max(np.abs(x)))[0]
    x = x[above[0]: above[-1] + 1]
    return audio.fade(x, 0.005, 0.02)


def _pct(semitones: int) -> int:
    # espeak's relative pitch is in its own units; about 0.6 of a percent of
    # frequency per percent of setting, measured on the en-us voices.
    return int(round(100.0 * (2.0 ** (semitones / 12.0) - 1.0) / 0.6))


def render_voice(track: Track, frames: int, workdir: Path) -> np.ndarray:
    """The vocal stem: every phrase spoken and placed in its slot (mono)."""
    out = np.zeros(frames)
    for ph in track.phrases:
        wpm = track.wpm
        x = speak(ph.text, ph.steps, track.voice, wpm, track.pitch, workdir)
        if len(x) > 0.95 * ph.slot * RATE:
            # Too long for its slot: speak faster, as a singer would rush the line.
            wpm = int(min(320, math.ceil(wpm * len(x) / (0.9 * ph.slot * RATE))))
            x = speak(ph.text, ph.steps, track.voice, wpm, track.pitch, workdir)
            x = x[: int(ph.slot * RATE)]
        i = int(round(ph.start * RATE))
        n = min(len(x), frames - i)
        out[i: i + n] += x[:n]
    return out + _air(out)


def _air(x: np.ndarray) -> np.ndarray:
    """Harmonics above espeak-ng's 11 kHz band edge, as a real voice has (~−20 dB).

    The speech is synthesised at 22.05 kHz; saturating its 3 kHz-and-up band and
    keeping only what lands above 9 kHz adds the breath and sibilance a microphone
    would have caught, following the words exactly.
    """
    high = audio.apply_filters(x, [audio.biquad("highpass", 3000.0), audio.biquad("highpass", 3000.0)])
    peak = float(np.max(np.abs(high)))
    if peak <= 0:
        return np.zeros_like(x)
    sat = np.tanh(4.0 * high / peak) * peak
    return 0.3 * audio.apply_filters(sat, [audio.biquad("highpass", 9000.0), audio.biquad("highpass", 9000.0)])


def _derive(track: Track, rendered: dict[str, np.ndarray]) -> np.ndarray:
    """Make a derived stem from rendered stereo sources.

    Filters here are zero-phase, so a derived stem and its source line up at zero lag
    in the clean corpus (the damage step then owns every offset between them).
    """
    mix = sum(rendered[name] * audio.db_to_gain(db) for name, db in track.sources)
    if track.process == "overheads":
        # A spaced pair above the kit: the whole kit, thinned below 150 Hz, a touch of
        # air, and each side favouring its half of the kit (the kit's own pan).
        y = audio.apply_filters_zero_phase(mix, [audio.biquad("highpass", 150.0, 0.7),
                                      audio.biquad("highshelf", 8000.0, 0.7, 2.0)])
        return y
    if track.process == "room":
        y = audio.apply_filters_zero_phase(mix, [audio.biquad("lowpass", 3500.0, 0.7),
                                      audio.biquad("highpass", 80.0, 0.7),
                                      audio.biquad("peak", 400.0, 1.0, 3.0)])
        return y
    mono = mix.mean(axis=1, keepdims=True)
    if track.process == "amp":
        # A bass amp mic: band-limited and gently driven.
        y = audio.apply_filters_zero_phase(mono, [audio.biquad("highpass", 45.0, 0.7),
                                       audio.biquad("lowpass", 2500.0, 0.8),
                                       audio.biquad("peak", 700.0, 1.2, 4.0)])
        g = 3.0 / np.max(np.abs(y))
        return np.tanh(g * y) / math.tanh(3.0)
    if track.process == "pickup":
        # An undersaddle pickup: boomy, quacky, no air.
        y = audio.apply_filters_zero_phase(mono, [audio.biquad("lowshelf", 180.0, 0.7, 4.0),
                                       audio.biquad("peak", 1200.0, 1.5, 3.0),
                                       audio.biquad("lowpass", 5000.0, 0.7)])
        return y
    if track.process == "sub":
        # A sub layer under the kick: only the body below 100 Hz.
        return audio.apply_filters_zero_phase(mono, [audio.biquad("lowpass", 100.0, 0.7),
                                          audio.biquad("lowpass", 100.0, 0.7)])
    raise ValueError(f"unknown process {track.process!r}")


def render_song(song: Song, log=None) -> dict[str, np.ndarray]:
    """Render every stem of ``song``: name -> ``(frames, channels)`` float64.

    Stems are normalised to a tracking level between −12 and −4 dBFS peak (as a
    recording engineer would leave them), and fade out over the last half second.
    """
    frames = song.frames
    raw: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory(prefix=f"mw-{song.name}-") as tmp:
        for t in song.tracks:
            if t.kind == "midi":
                raw[t.name] = render_midi(t.notes, t.program, t.drums, frames, Path(tmp))
            elif t.kind == "voice":
                raw[t.name] = render_voice(t, frames, Path(tmp))[:, None]
            if log and t.kind != "derived":
                log(f"{song.name}: rendered {t.name}")
        for t in song.tracks:
            if t.kind == "derived":
                raw[t.name] = _derive(t, raw)
    out: dict[str, np.ndarray] = {}
    for t in song.stems:
        x = raw[t.name]
        if x.shape[1] == 2 and not t.stereo:
            x = x.mean(axis=1, keepdims=True)
        peak = float(np.max(np.abs(x)))
        if peak <= 0:
            raise RuntimeError(f"{song.name}/{t.file}: rendered silence")
        rng = np.random.default_rng(stable_seed(song.seed, t.name, "level"))
        level = audio.db_to_gain(float(rng.uniform(-12.0, -4.0)))
        x = audio.fade(x * (level / peak), 0.0, 0.5)
        out[t.name] = x
    return out


# =========================================================================== reference balance


def reference_balance(song: Song, stems: dict[str, np.ndarray], mix_lufs: float = -18.0,
                      max_peak_db: float = -1.0, ext: str = ".wav") -> dict:
    """The reference mix settings: a gain and pan per stem, and what they measure.

    Every stem's contribution (after gain and pan) is aimed at the song's loudness
    target for its role relative to the lead vocal; then one common offset brings the
    summed mix to ``mix_lufs`` or lower, so its sample peak stays under ``max_peak_db``.
    Gains are rounded to 0.01 dB, and the mix is summed with the rounded values.
    A stem's loudness in the mix is its own loudness plus its gain (BS.1770 gating is
    relative, so a gain shifts the measure by exactly that much above the −70 LUFS gate).
    Stems are keyed by file name, the track's name plus ``ext``.
    """
    own = {t.name: audio.integrated_loudness(audio.place(stems[t.name], 0.0, t.pan)) for t in song.stems}
    gains = {t.name: t.target - own[t.name] for t in song.stems}
    mix = _sum_mix(song, stems, gains)
    offset = min(mix_lufs - audio.integrated_loudness(mix), max_peak_db - audio.peak_db(mix))
    gains = {k: round(v + offset, 2) for k, v in gains.items()}
    mix = _sum_mix(song, stems, gains)
    mix_l = audio.integrated_loudness(mix)
    ref = {"stems": {}, "mix": mix}
    for t in song.stems:
        ref["stems"][t.name + ext] = {
            "role": t.role,
            "gain_db": gains[t.name],
            "pan": t.pan,
            "channels": stems[t.name].shape[1],
            "target_lu_vs_lead": t.target,
            "loudness_lu_vs_mix": round(own[t.name] + gains[t.name] - mix_l, 2),
            "description": t.description,
        }
    ref["mix_lufs"] = round(mix_l, 2)
    ref["mix_peak_dbfs"] = round(audio.peak_db(mix), 2)
    return ref


def _sum_mix(song: Song, stems: dict[str, np.ndarray], gains: dict[str, float]) -> np.ndarray:
    mix = np.zeros((song.frames, 2))
    for t in song.stems:
        mix += audio.place(stems[t.name], gains[t.name], t.pan)
    return mix


# =========================================================================== the songs


def _lead(name: str, form: Form, rng, lines, sections, voice: str, pitch: int, wpm: int,
          bars_per_line: int = 2, offset: float = 0.5, contour=(0, 2, 4, 5, 4, 2, 0, -1),
          role: str = "lead_vocal", desc: str = "lead vocal (espeak-ng)") -> Track:
    return Track(name, role, "voice", phrases=lyric_phrases(form, rng, lines, sections, bars_per_line, offset, contour),
                 voice=voice, pitch=pitch, wpm=wpm, description=f"{desc}, voice {voice}")


def _kit(form: Form, rng, style: str, kit: int, sections=None, toms: bool = True, overheads: bool = True,
         hihat: bool = True, snare_name: str = "snare", fills: bool = True) -> list[Track]:
    """Close-mic kit pieces (and a hidden cymbal part) plus overheads over the whole kit."""
    g = drum_groove(form, rng, style, sections, fills and toms)  # a fill needs toms to play it
    tracks = [Track("kick", "kick", "midi", program=kit, drums=True, notes=g["kick"], description="kick close mic"),
              Track(snare_name, "snare", "midi", program=kit, drums=True, notes=g["snare"],
                    description="snare close mic")]
    if hihat:
        tracks.append(Track("hihat", "hihat", "midi", program=kit, drums=True, notes=g["hihat"], pan=0.3,
                            description="hi-hat close mic"))
    if toms and g["toms"]:
        tracks.append(Track("toms", "toms", "midi", program=kit, drums=True, notes=g["toms"], pan=-0.1,
                            description="tom close mics (summed)"))
    if overheads:
        tracks.append(Track("cymbals", "overheads", "midi", program=kit, drums=True, notes=g["cymbals"],
                            stereo=True, hidden=True))
        src = [("cymbals", 0.0), ("kick", -14.0), (snare_name, -8.0)]
        if hihat:
            src.append(("hihat", -4.0))
        if toms and g["toms"]:
            src.append(("toms", -8.0))
        tracks.append(Track("overheads", "overheads", "derived", stereo=True, process="overheads", sources=src,
                            description="stereo overheads over the whole kit"))
    return tracks


def _song(name: str, style: str, tempo: float, key: Key, form: Form, tracks: list[Track],
          pairs, seed: int) -> Song:
    return Song(name, style, tempo, str(key), form.spans, form.end, tracks, pairs, seed)


def rock_anthem() -> Song:
    """Rock band: power-chord guitars left and right, organ, DI and amp bass, full kit."""
    seed = stable_seed("rock_anthem")
    r = lambda part: np.random.default_rng(stable_seed(seed, part))  # noqa: E731
    key = Key(4, MINOR, "minor")  # E minor
    verse, chorus = (0, 0, 5, 6), (2, 6, 0, 4)
    form = Form(124, [("intro", 4, verse), ("verse", 8, verse), ("chorus", 8, chorus),
                      ("verse", 4, verse), ("chorus", 8, chorus), ("outro", 2, (0,))])
    band = ("intro", "verse", "chorus", "outro")
    lines = ["Streetlights burning on a Friday night", "Engines calling from the edge of town",
             "Every window is a different light", "Every promise that we swore we would keep",
             "We are running and we will not stop", "Hold the line until the morning comes",
             "We are running to the open road", "Shout it louder till the silence breaks",
             "Radio is playing our old song", "Turn it up and let it carry on",
             "We are running and we will not stop", "Hold the line until the morning comes",
             "We are running to the open road", "Shout it louder till the silence breaks"]
    tracks = _kit(form, r("drums"), "rock", KIT_POWER)
    tracks += [
        Track("bass_di", "bass", "midi", program=33, notes=bass_line(form, r("bass"), key, "eighths", 1, band),
              target_lu=-5.0, description="electric bass, direct input"),
        Track("bass_amp", "bass", "derived", process="amp", sources=[("bass_di", 0.0)], target_lu=-8.0,
              description="electric bass, amp mic (same performance as bass_di)"),
        Track("guitar_l", "electric_guitar", "midi", program=29, pan=-0.8,
              notes=power_chords(form, r("gtr_l"), key, 2, ("verse", "chorus", "outro"), "eighths"),
              description="overdriven rhythm guitar, left"),
        Track("guitar_r", "electric_guitar", "midi", program=30, pan=0.8,
              notes=power_chords(form, r("gtr_r"), key, 2, ("intro", "chorus", "outro"), "whole", fifth_up=True),
              description="distortion guitar, right"),
        Track("organ", "keys", "midi", program=16, stereo=True,
              notes=sustained(form, r("organ"), key, 4, ("chorus",), 4, 70), description="drawbar organ"),
        _lead("vocal", form, r("vocal"), lines, ("verse", "chorus"), "en-us+m3", 45, 175),
        _lead("backing_vocal", form, r("bv"), lines[4:8] + lines[10:14], ("chorus",), "en-us+f2", 70, 175,
              contour=(4, 5, 7, 9, 7, 5, 4, 2), role="backing_vocal", desc="chorus double, a step above"),
    ]
    return _song("rock_anthem", "rock band", 124, key, form, tracks,
                 [("snare", "overheads"), ("bass_di", "bass_amp")], seed)


def pop_bright() -> Song:
    """Pop: synth bass, piano, pad, pluck arpeggio, programmed-sounding kit, vocals."""
    seed = stable_seed("pop_bright")
    r = lambda part: np.random.default_rng(stable_seed(seed, part))  # noqa: E731
    key = Key(0, MAJOR, "major")  # C major
    prog = (0, 4, 5, 3)
    form = Form(102, [("intro", 2, prog), ("verse", 8, prog), ("chorus", 8, (3, 4, 0, 5)),
                      ("verse", 4, prog), ("chorus", 4, (3, 4, 0, 5))])
    lines = ["Paper planes across the kitchen floor", "Sunlight spilling through an open door",
             "You were laughing at the things I said", "Every color running through my head",
             "Say you will stay tonight", "Hold me close and hold me tight",
             "All the city lights are ours", "Dancing underneath the stars",
             "Coffee cups and songs we never wrote", "Every word a little secret note",
             "Say you will stay tonight", "Hold me close and hold me tight"]
    tracks = _kit(form, r("drums"), "pop", KIT_STANDARD, ("verse", "chorus"), toms=False)
    tracks += [
        Track("bass", "bass", "midi", program=38, notes=bass_line(form, r("bass"), key, "syncopated", 1,
                                                                  ("verse", "chorus")), description="synth bass"),
        Track("piano", "piano", "midi", program=0, stereo=True,
              notes=block_chords(form, r("piano"), key, 4, None, ((0, 1.4), (1.5, 1), (2.5, 1.4)), 4, 78),
              description="acoustic grand piano, stereo"),
        Track("pad", "pad", "midi", program=89, stereo=True, notes=sustained(form, r("pad"), key, 4, ("chorus",), 3, 72),
              description="warm pad"),
        Track("pluck", "synth", "midi", program=80, pan=0.4,
              notes=arpeggio(form, r("pluck"), key, 5, ("chorus",), 0.25, 4, 0.5, 76), description="square pluck arpeggio"),
        _lead("vocal", form, r("vocal"), lines, ("verse", "chorus"), "en-us+f3", 55, 165),
        _lead("backing_vocal", form, r("bv"), lines[4:8] + lines[10:12], ("chorus",), "en-us+f4", 75, 165,
              contour=(4, 7, 9, 7, 4, 2, 4, 5), role="backing_vocal", desc="chorus harmony"),
    ]
    return _song("pop_bright", "pop", 102, key, form, tracks, [("snare", "overheads")], seed)


def acoustic_porch(short: bool = False) -> Song:
    """Acoustic: strummed steel guitar (mic and pickup), nylon arpeggios, upright bass, shaker.

    ``short``: a 13-second cut (one bar of intro, two of verse, two of chorus), the song
    ``smoke`` that the test suite's benchmark check builds in seconds.
    """
    seed = stable_seed("acoustic_porch")
    r = lambda part: np.random.default_rng(stable_seed(seed, part))  # noqa: E731
    key = Key(7, MAJOR, "major")  # G major
    prog = (0, 4, 5, 3)
    if short:
        form = Form(92, [("intro", 1, prog), ("verse", 2, prog), ("chorus", 2, (3, 0, 4, 4))])
    else:
        form = Form(92, [("intro", 2, prog), ("verse", 8, prog), ("chorus", 8, (3, 0, 4, 4)), ("outro", 2, (0,))])
    lines = ["Down by the river where the willows grow", "I found a letter from a long time ago",
             "The ink was faded but the words were true", "And every line of it was meant for you",
             "So sing it slow and sing it low", "Let the evening carry us home",
             "So sing it slow and sing it low", "Let the evening carry us home"]
    g = drum_groove(form, r("shaker"), "rock", ("verse", "chorus"), fills=False)
    shaker = [Note(n.start, 0.08, SHAKER, n.vel) for n in g["hihat"]]
    tracks = [
        Track("guitar_mic", "acoustic_guitar", "midi", program=25, notes=strum(form, r("strum"), key, 3),
              description="steel-string guitar, condenser mic"),
        Track("guitar_pickup", "acoustic_guitar", "derived", process="pickup", sources=[("guitar_mic", 0.0)],
              target_lu=-10.0, description="same guitar, undersaddle pickup"),
        Track("nylon_guitar", "acoustic_guitar", "midi", program=24, pan=0.5,
              notes=arpeggio(form, r("nylon"), key, 4, ("chorus", "outro"), 0.5, 3, 1.6, 70), target_lu=-8.0,
              description="nylon guitar arpeggios"),
        Track("upright_bass", "bass", "midi", program=32,
              notes=bass_line(form, r("bass"), key, "root_fifth", 1, ("verse", "chorus", "outro")),
              description="acoustic bass"),
        Track("shaker", "percussion", "midi", program=KIT_STANDARD, drums=True, notes=shaker, pan=-0.4,
              description="shaker"),
        _lead("vocal", form, r("vocal"), lines, ("verse", "chorus"), "en-us+m1", 50, 150),
    ]
    return _song("smoke" if short else "acoustic_porch", "acoustic", 92, key, form, tracks,
                 [("guitar_mic", "guitar_pickup")], seed)


def smoke() -> Song:
    """The short cut of ``acoustic_porch`` (not in ``SONGS``: built only on request)."""
    return acoustic_porch(short=True)


def neon_drive() -> Song:
    """Electronic: four on the floor, layered kick, sub bass, saw lead, arp, pad, risers, sparse vocal."""
    seed = stable_seed("neon_drive")
    r = lambda part: np.random.default_rng(stable_seed(seed, part))  # noqa: E731
    key = Key(9, MINOR, "minor")  # A minor
    prog = (0, 5, 2, 6)
    form = Form(126, [("intro", 8, prog), ("build", 8, prog), ("drop", 8, prog), ("break", 4, (5, 6)),
                      ("drop", 4, prog)])
    lines = ["Lights out", "Feel the signal in the wire", "We are moving faster now",
             "Lights out", "Turn the city into fire", "Never looking back"]
    g = drum_groove(form, r("drums"), "four", ("build", "drop"), fills=False)
    tracks = [
        Track("kick", "kick", "midi", program=KIT_808, drums=True, notes=g["kick"], description="808 kick"),
        Track("kick_sub", "kick", "derived", process="sub", sources=[("kick", 0.0)], target_lu=-9.0,
              description="sub layer of the kick (low-passed copy)"),
        Track("clap", "snare", "midi", program=KIT_808, drums=True, notes=g["snare"], description="808 clap"),
        Track("hihat", "hihat", "midi", program=KIT_808, drums=True, notes=g["hihat"], pan=0.2,
              description="808 hats"),
        Track("sub_bass", "bass", "midi", program=38,
              notes=bass_line(form, r("bass"), key, "eighths", 1, ("build", "drop")), description="synth bass"),
        Track("lead_synth", "synth", "midi", program=81,
              notes=melody(form, r("lead"), key, 5, ("drop",), 0.7, 96), target_lu=-5.0, description="saw lead"),
        Track("arp", "synth", "midi", program=80, stereo=True,
              notes=arpeggio(form, r("arp"), key, 4, ("intro", "build", "drop"), 0.25, 4, 0.6, 72),
              target_lu=-9.0, description="square arpeggio"),
        Track("pad", "pad", "midi", program=90, stereo=True,
              notes=sustained(form, r("pad"), key, 4, None, 3, 70, spread=True), description="polysynth pad"),
        Track("fx", "fx", "midi", program=95, stereo=True, notes=risers(form, r("fx"), key, 5),
              description="sweep pad risers into each section"),
        _lead("vocal", form, r("vocal"), lines, ("build", "break"), "en-gb+f2", 60, 150, 2, 0.0,
              contour=(0, 0, 3, 5, 3, 0, -2, 0)),
    ]
    return _song("neon_drive", "electronic", 126, key, form, tracks, [("kick", "kick_sub")], seed)


def chamber_ballad() -> Song:
    """Piano and strings: stereo grand with a room mic, string section, cello line, violin counter-melody."""
    seed = stable_seed("chamber_ballad")
    r = lambda part: np.random.default_rng(stable_seed(seed, part))  # noqa: E731
    key = Key(2, MAJOR, "major")  # D major
    prog = (0, 5, 3, 4)
    form = Form(72, [("intro", 2, prog), ("verse", 8, prog), ("chorus", 6, (3, 4, 5, 4, 3, 4)), ("outro", 2, (0,))])
    lines = ["Winter light upon the window pane", "I can hear you calling out my name",
             "All the years have left us here", "Standing in the cold and clear",
             "Carry me across the sea", "Carry me back home to me", "Carry me across the sea"]
    piano = arpeggio(form, r("piano"), key, 4, None, 0.5, 3, 3.0, 70) + \
        block_chords(form, r("piano_lh"), key, 2, None, ((0, 3.8),), 2, 72)
    tracks = [
        Track("piano", "piano", "midi", program=0, stereo=True, notes=piano, target_lu=-4.0,
              description="grand piano, stereo close pair"),
        Track("piano_room", "room", "derived", stereo=True, process="room", sources=[("piano", 0.0)],
              description="piano room pair (same performance)"),
        Track("strings", "strings", "midi", program=48, stereo=True,
              notes=sustained(form, r("strings"), key, 4, ("chorus", "outro"), 3, 74, spread=True),
              target_lu=-7.0, description="string section"),
        Track("cello", "strings", "midi", program=42, pan=-0.3,
              notes=melody(form, r("cello"), key, 2, ("verse", "chorus"), 0.3, 82, long=True), target_lu=-8.0,
              description="cello line"),
        Track("violin", "strings", "midi", program=40, pan=0.4,
              notes=melody(form, r("violin"), key, 5, ("chorus",), 0.3, 80, long=True), target_lu=-9.0,
              description="violin counter-melody"),
        _lead("vocal", form, r("vocal"), lines, ("verse", "chorus"), "en-us+f5", 50, 130),
    ]
    return _song("chamber_ballad", "piano and strings", 72, key, form, tracks, [("piano", "piano_room")], seed)


def late_night() -> Song:
    """Sparse: brushed kit, Rhodes, walking upright bass, a vocal with long gaps."""
    seed = stable_seed("late_night")
    r = lambda part: np.random.default_rng(stable_seed(seed, part))  # noqa: E731
    key = Key(2, DORIAN, "dorian")  # D dorian
    prog = (0, 3, 0, 4)
    form = Form(84, [("intro", 4, prog), ("verse", 8, prog), ("solo", 4, prog), ("verse", 4, prog)])
    lines = ["The last train left an hour ago", "Rain on the window soft and slow",
             "Nobody here but the band and me", "Playing the blues in a minor key"]
    tracks = _kit(form, r("drums"), "brush", KIT_BRUSH, ("verse", "solo"), toms=False, hihat=False)
    tracks += [
        Track("epiano", "keys", "midi", program=4, stereo=True,
              notes=block_chords(form, r("ep"), key, 4, None, ((0, 1.5), (2.5, 1.2)), 4, 66), target_lu=-6.0,
              description="electric piano"),
        Track("bass", "bass", "midi", program=32,
              notes=bass_line(form, r("bass"), key, "walking", 1, ("verse", "solo")), description="walking bass"),
        Track("sax", "brass", "midi", program=65, pan=-0.3,
              notes=melody(form, r("sax"), key, 4, ("solo",), 0.5, 90), target_lu=-4.0, description="alto sax solo"),
        _lead("vocal", form, r("vocal"), lines, ("verse",), "en-us+m7", 40, 140, 3, 1.0),
    ]
    return _song("late_night", "sparse", 84, key, form, tracks, [("snare", "overheads")], seed)


def wall_of_sound() -> Song:
    """Dense: sixteen stems, full kit, doubled guitars, piano, organ, strings, brass, pad, three voices."""
    seed = stable_seed("wall_of_sound")
    r = lambda part: np.random.default_rng(stable_seed(seed, part))  # noqa: E731
    key = Key(11, MINOR, "minor")  # B minor
    prog = (0, 5, 2, 6)
    form = Form(140, [("intro", 4, prog), ("verse", 8, prog), ("chorus", 8, (5, 6, 0, 4)),
                      ("verse", 8, prog), ("chorus", 8, (5, 6, 0, 4))])
    lines = ["Thunder rolling over the hill", "Heartbeat racing never standing still",
             "All the voices rising up as one", "We will not be broken we will not be done",
             "Raise it up raise it high", "Every voice against the sky",
             "Raise it up raise it high", "Every voice against the sky",
             "Cities burning bright below", "Everywhere we run we know",
             "Nothing stands between us now", "We will find a way somehow",
             "Raise it up raise it high", "Every voice against the sky",
             "Raise it up raise it high", "Every voice against the sky"]
    tracks = _kit(form, r("drums"), "dense", KIT_ROOM)
    tracks += [
        Track("bass", "bass", "midi", program=34, notes=bass_line(form, r("bass"), key, "eighths", 1, None),
              description="picked bass"),
        Track("guitar_l", "electric_guitar", "midi", program=30, pan=-0.9,
              notes=power_chords(form, r("gl"), key, 2, None, "eighths"), description="distortion guitar, left"),
        Track("guitar_r", "electric_guitar", "midi", program=29, pan=0.9,
              notes=power_chords(form, r("gr"), key, 2, None, "eighths", fifth_up=True),
              description="overdriven guitar, right"),
        Track("piano", "piano", "midi", program=1, stereo=True,
              notes=block_chords(form, r("piano"), key, 4, None, tuple((k * 0.5, 0.4) for k in range(8)), 3, 84),
              target_lu=-8.0, description="bright piano eighths"),
        Track("organ", "keys", "midi", program=17, stereo=True,
              notes=sustained(form, r("organ"), key, 4, ("chorus",), 4, 70), target_lu=-10.0,
              description="percussive organ"),
        Track("strings", "strings", "midi", program=48, stereo=True,
              notes=sustained(form, r("strings"), key, 4, ("chorus",), 3, 80, spread=True), description="strings"),
        Track("brass", "brass", "midi", program=61, stereo=True, notes=stabs(form, r("brass"), key, 4, ("chorus",)),
              description="brass section stabs"),
        Track("synth_pad", "pad", "midi", program=91, stereo=True,
              notes=sustained(form, r("pad"), key, 3, ("verse",), 3, 70), description="space pad"),
        _lead("vocal", form, r("vocal"), lines, ("verse", "chorus"), "en-us+m3", 50, 190),
        _lead("backing_vocal_hi", form, r("bvh"), lines[4:8] + lines[12:16], ("chorus",), "en-us+f3", 80, 190,
              contour=(7, 9, 11, 12, 11, 9, 7, 5), role="backing_vocal", desc="chorus harmony, high"),
        _lead("backing_vocal_lo", form, r("bvl"), lines[4:8] + lines[12:16], ("chorus",), "en-us+m2", 30, 190,
              contour=(-5, -3, -1, 0, -1, -3, -5, -7), role="backing_vocal", desc="chorus harmony, low"),
    ]
    return _song("wall_of_sound", "dense", 140, key, form, tracks, [("kick", "overheads"), ("snare", "overheads")], seed)


def slow_burn() -> Song:
    """Ballad: piano and voice, then strings, fretless bass and a half-time kit enter in the chorus."""
    seed = stable_seed("slow_burn")
    r = lambda part: np.random.default_rng(stable_seed(seed, part))  # noqa: E731
    key = Key(3, MAJOR, "major")  # Eb major
    prog = (0, 4, 5, 3)
    form = Form(66, [("verse", 6, prog), ("chorus", 6, (3, 0, 4, 5)), ("outro", 2, (3, 0))])
    lines = ["I kept the porch light on for you", "Through every storm the whole night through",
             "And if you ever find your way", "So come back home", "You are not alone",
             "I will be here I will stay"]
    tracks = _kit(form, r("drums"), "halftime", KIT_STANDARD, ("chorus", "outro"), toms=False)
    tracks += [
        Track("piano", "piano", "midi", program=0, stereo=True,
              notes=arpeggio(form, r("piano"), key, 4, None, 0.5, 3, 2.5, 66) +
              block_chords(form, r("lh"), key, 2, None, ((0, 3.8),), 2, 70),
              target_lu=-4.5, description="grand piano"),
        Track("strings", "strings", "midi", program=49, stereo=True,
              notes=sustained(form, r("strings"), key, 4, ("chorus", "outro"), 3, 76, spread=True),
              description="slow strings"),
        Track("bass", "bass", "midi", program=35, notes=bass_line(form, r("bass"), key, "whole", 1, ("chorus", "outro")),
              description="fretless bass"),
        _lead("vocal", form, r("vocal"), lines, ("verse", "chorus"), "en-us+f4", 45, 125, 2, 1.0),
        _lead("backing_vocal", form, r("bv"), lines[3:], ("chorus",), "en-us+f1", 65, 125, 2, 1.0,
              contour=(4, 4, 5, 7, 5, 4, 2, 4), role="backing_vocal", desc="chorus harmony"),
    ]
    return _song("slow_burn", "ballad", 66, key, form, tracks, [("snare", "overheads")], seed)


def funk_machine() -> Song:
    """Funk: 16th-note hats with ghost snares, slap bass, clavinet, horn stabs, vocal."""
    seed = stable_seed("funk_machine")
    r = lambda part: np.random.default_rng(stable_seed(seed, part))  # noqa: E731
    key = Key(4, DORIAN, "dorian")  # E dorian
    prog = (0, 0, 3, 3)
    form = Form(108, [("intro", 2, prog), ("verse", 8, prog), ("chorus", 8, (3, 4, 0, 0)), ("verse", 4, prog)])
    lines = ["Get up get down", "Move your body all around town", "The groove is tight and the night is right",
             "We are gonna keep it moving all night", "Feel the funk machine", "Working like a dream",
             "Feel the funk machine", "Working like a dream", "Get up get down", "Move your body all around town"]
    tracks = _kit(form, r("drums"), "funk", KIT_STANDARD, toms=False)
    tracks += [
        Track("bass", "bass", "midi", program=36, notes=bass_line(form, r("bass"), key, "funk", 1, None),
              description="slap bass"),
        Track("clav", "keys", "midi", program=7, pan=-0.5,
              notes=block_chords(form, r("clav"), key, 4, ("verse", "chorus"),
                                 ((0.5, 0.2), (1.25, 0.2), (2.5, 0.2), (3.0, 0.15), (3.75, 0.2)), 3, 88),
              description="clavinet"),
        Track("horns", "brass", "midi", program=61, stereo=True, notes=stabs(form, r("horns"), key, 4, ("chorus",)),
              description="horn stabs"),
        Track("guitar", "electric_guitar", "midi", program=28, pan=0.5,
              notes=arpeggio(form, r("gtr"), key, 4, ("verse",), 0.25, 3, 0.4, 70), target_lu=-9.0,
              description="muted funk guitar"),
        _lead("vocal", form, r("vocal"), lines, ("verse", "chorus"), "en-us+m4", 55, 170, 2, 0.0),
    ]
    return _song("funk_machine", "funk", 108, key, form, tracks, [("snare", "overheads")], seed)


def example_song() -> Song:
    """The repo's example: ~22 s, seven stems (kick, snare, hihat, bass, keys, pad, vocal)."""
    seed = stable_seed("example")
    r = lambda part: np.random.default_rng(stable_seed(seed, part))  # noqa: E731
    key = Key(5, MAJOR, "major")  # F major
    prog = (0, 5, 3, 4)
    form = Form(96, [("intro", 1, prog), ("verse", 4, prog), ("chorus", 4, (3, 4, 0, 0))])
    lines = ["Here is a song for you to mix", "Every sound in its own place",
             "Turn the music up", "Let the words come through"]
    g = drum_groove(form, r("drums"), "pop", ("verse", "chorus"), fills=True)
    tracks = [
        Track("kick", "kick", "midi", program=KIT_STANDARD, drums=True, notes=g["kick"], description="kick"),
        Track("snare", "snare", "midi", program=KIT_STANDARD, drums=True, notes=g["snare"] + g["toms"],
              description="snare (and the fill's toms)"),
        Track("hihat", "hihat", "midi", program=KIT_STANDARD, drums=True, notes=g["hihat"] + g["cymbals"],
              pan=0.3, description="hi-hat and crash"),
        Track("bass", "bass", "midi", program=33, notes=bass_line(form, r("bass"), key, "root_fifth", 1,
                                                                  ("verse", "chorus")), description="electric bass"),
        Track("keys", "keys", "midi", program=0, stereo=True, target_lu=-5.0,
              notes=block_chords(form, r("keys"), key, 4, None, ((0, 1.4), (1.5, 1), (2.5, 1.4)), 4, 76),
              description="grand piano, stereo"),
        Track("pad", "pad", "midi", program=89, stereo=True, notes=sustained(form, r("pad"), key, 4, ("chorus",), 3, 72),
              description="warm pad"),
        _lead("vocal", form, r("vocal"), lines, ("verse", "chorus"), "en-us+f3", 55, 160),
    ]
    return _song("example", "pop", 96, key, form, tracks, [], seed)


#: The benchmark corpus, by name.
SONGS = {f.__name__: f for f in (rock_anthem, pop_bright, acoustic_porch, neon_drive, chamber_ballad,
                                 late_night, wall_of_sound, slow_burn, funk_machine)}
#: Songs built only when named (``build_corpus.py --songs smoke``).
EXTRA = {"smoke": smoke}


# =========================================================================== checks


def check_stems(song: Song, stems: dict[str, np.ndarray], ext: str = ".wav") -> dict[str, dict]:
    """Listening-proxy checks of rendered stems; raises ``RuntimeError`` on a failure.

    Every stem plays (gated loudness above −60 LUFS), none reaches −1 dBFS, all are
    exactly the song's length (so they are sample-aligned from a common zero), and
    every lyric line of every vocal has sound in its slot. Returns what was measured.
    """
    report = {}
    for t in song.stems:
        x = stems[t.name]
        problems = []
        if x.shape[0] != song.frames:
            problems.append(f"{x.shape[0]} frames, expected {song.frames}")
        if x.shape[1] != (2 if t.stereo else 1):
            problems.append(f"{x.shape[1]} channels, expected {2 if t.stereo else 1}")
        z = audio.block_powers(x)
        lufs = audio.gated_loudness(z)
        pk = audio.peak_db(x)
        if not lufs > -60.0:
            problems.append(f"silent ({lufs:.1f} LUFS)")
        if not pk < -1.0:
            problems.append(f"peak {pk:.2f} dBFS, expected below -1")
        if not np.all(np.isfinite(x)):
            problems.append("non-finite samples")
        for ph in t.phrases:
            seg = x[int(ph.start * RATE): int((ph.start + ph.slot) * RATE)]
            if seg.size == 0 or audio.gain_to_db(float(np.sqrt(np.mean(seg ** 2)))) < -50.0:
                problems.append(f"no words in the slot of {ph.text!r}")
        if problems:
            raise RuntimeError(f"{song.name}/{t.name}{ext}: " + "; ".join(problems))
        report[t.name + ext] = {
            "peak_dbfs": round(pk, 2),
            "loudness_lufs": round(lufs, 2),
            "active_share": round(float(np.mean(z > 10 ** ((lufs - 20.0 + 0.691) / 10.0))), 3),
        }
    return report
