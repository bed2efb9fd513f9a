"""PNG plots of a track's results, drawn without dependencies: a tiny PNG writer (zlib + struct)
and a tiny 3x5 pixel font for the axis numbers.

- `<track>-gap.png`: one bar per instance, the gap to the reference in % (above the zero line:
  worse than the reference, orange; at or below: better or equal, green; a failed instance is a
  full-height red bar, one without a reference a grey mark on the zero line). A track where no
  instance has a reference plots the track objective instead (blue).
- `<track>-time.png`: engine time (s, y) against the instance size in jobs (x), one dot each
  (red: failed).
Axis extremes are written in numbers at the axis ends.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

from benchmarks.report import Row

Color = tuple[int, int, int]
WHITE: Color = (255, 255, 255)
BLACK: Color = (0, 0, 0)
GREY: Color = (200, 200, 200)
GREEN: Color = (40, 160, 70)
ORANGE: Color = (230, 130, 20)
RED: Color = (210, 30, 30)
BLUE: Color = (40, 90, 200)

# 3x5 glyphs, rows top to bottom, 3 bits each (4 = left column).
_FONT = {
    "0": (7, 5, 5, 5, 7),
    "1": (2, 6, 2, 2, 7),
    "2": (7, 1, 7, 4, 7),
    "3": (7, 1, 7, 1, 7),
    "4": (5, 5, 7, 1, 1),
    "5": (7, 4, 7, 1, 7),
    "6": (7, 4, 7, 5, 7),
    "7": (7, 1, 1, 1, 1),
    "8": (7, 5, 7, 5, 7),
    "9": (7, 5, 7, 1, 7),
    ".": (0, 0, 0, 0, 2),
    "-": (0, 0, 7, 0, 0),
    "%": (5, 1, 2, 4, 5),
    "e": (0, 7, 7, 4, 7),
    "+": (0, 2, 7, 2, 0),
    " ": (0, 0, 0, 0, 0),
}


class Canvas:
    """An RGB image in memory."""

    def __init__(self, width: int, height: int, background: Color = WHITE) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(bytes(background) * (width * height))

    def set(self, x: int, y: int, color: Color) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            i = 3 * (y * self.width + x)
            self.pixels[i : i + 3] = bytes(color)

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: Color) -> None:
        """Fills the rectangle with corners (x0, y0) and (x1, y1), inclusive, any order."""
        xa, xb = sorted((x0, x1))
        ya, yb = sorted((y0, y1))
        xa, xb = max(0, xa), min(self.width - 1, xb)
        ya, yb = max(0, ya), min(self.height - 1, yb)
        if xa > xb or ya > yb:
            return
        row = bytes(color) * (xb - xa + 1)
        for y in range(ya, yb + 1):
            i = 3 * (y * self.width + xa)
            self.pixels[i : i + len(row)] = row

    def text(self, x: int, y: int, text: str, color: Color = BLACK, scale: int = 2) -> None:
        for k, ch in enumerate(text):
            glyph = _FONT.get(ch, _FONT[" "])
            for gy, bits in enumerate(glyph):
                for gx in range(3):
                    if bits & (4 >> gx):
                        ox, oy = x + (4 * k + gx) * scale, y + gy * scale
                        self.rect(ox, oy, ox + scale - 1, oy + scale - 1, color)

    def png(self) -> bytes:
        raw = b"".join(
            b"\x00" + bytes(self.pixels[3 * y * self.width : 3 * (y + 1) * self.width])
            for y in range(self.height)
        )

        def chunk(kind: bytes, data: bytes) -> bytes:
            body = kind + data
            return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b"")
        )

    def save(self, path: Path) -> None:
        path.write_bytes(self.png())


def _label(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-3:
        return f"{value:.2e}".replace("e+0", "e").replace("e-0", "e-")
    return f"{value:.4g}"


LEFT, RIGHT, TOP, BOTTOM = 70, 20, 20, 30
PLOT_HEIGHT = 240


def gap_chart(rows: Sequence[Row]) -> Canvas:
    """Bars per instance: gap % to the reference, or the track objective when none has one."""
    use_gap = any(r.gap_pct is not None for r in rows)
    values = [(r.gap_pct if use_gap else r.track_objective) for r in rows]
    known = [v for v in values if v is not None]
    high, low = max([0.0, *known]), min([0.0, *known])
    if high == low:
        high = low + 1.0
    bar = max(1, min(12, 1200 // max(1, len(rows))))
    gap = 1 if bar > 2 else 0
    width = LEFT + len(rows) * (bar + gap) + RIGHT
    c = Canvas(max(width, 200), TOP + PLOT_HEIGHT + BOTTOM)

    def y_of(v: float) -> int:
        return TOP + round((high - v) / (high - low) * PLOT_HEIGHT)

    zero = y_of(0.0)
    c.rect(LEFT, TOP, LEFT, TOP + PLOT_HEIGHT, BLACK)
    for k, (r, v) in enumerate(zip(rows, values, strict=True)):
        x0 = LEFT + 2 + k * (bar + gap)
        if r.failures:
            c.rect(x0, TOP, x0 + bar - 1, TOP + PLOT_HEIGHT, RED)
            continue
        if v is None:  # no reference for this instance: a grey mark on the zero line
            c.rect(x0, zero - 4, x0 + bar - 1, zero + 4, GREY)
            continue
        color = (ORANGE if v > 0 else GREEN) if use_gap else BLUE
        top = y_of(v)
        if top == zero:  # a zero gap still gets a visible mark
            top = zero - 2
        c.rect(x0, zero, x0 + bar - 1, top, color)
    c.rect(LEFT, zero, c.width - RIGHT, zero, BLACK)
    c.text(4, TOP, _label(high) + ("%" if use_gap else ""))
    c.text(4, TOP + PLOT_HEIGHT - 10, _label(low) + ("%" if use_gap else ""))
    if low < 0 < high:
        c.text(4, zero - 5, "0")
    c.text(LEFT, TOP + PLOT_HEIGHT + 10, str(len(rows)))
    return c


def time_chart(rows: Sequence[Row]) -> Canvas:
    """Dots: engine time (s) against the number of jobs."""
    points = [(r.jobs, r.engine_s, bool(r.failures)) for r in rows if r.engine_s is not None]
    width = 480
    c = Canvas(width, TOP + PLOT_HEIGHT + BOTTOM)
    x_max = max([1, *(p[0] for p in points)])
    y_max = max([1e-3, *(p[1] for p in points)])
    plot_w = width - LEFT - RIGHT
    c.rect(LEFT, TOP, LEFT, TOP + PLOT_HEIGHT, BLACK)
    c.rect(LEFT, TOP + PLOT_HEIGHT, width - RIGHT, TOP + PLOT_HEIGHT, BLACK)
    for jobs, secs, failed in points:
        x = LEFT + round(jobs / x_max * plot_w)
        y = TOP + PLOT_HEIGHT - round(secs / y_max * PLOT_HEIGHT)
        c.rect(x - 2, y - 2, x + 2, y + 2, RED if failed else BLUE)
    c.text(4, TOP, _label(y_max))
    c.text(4, TOP + PLOT_HEIGHT - 10, "0")
    label = _label(x_max)
    c.text(width - RIGHT - 8 * len(label), TOP + PLOT_HEIGHT + 10, label)
    c.text(LEFT, TOP + PLOT_HEIGHT + 10, "0")
    return c


def write_plots(rows: Sequence[Row], out: Path, track: str) -> list[Path]:
    """`<track>-gap.png` and `<track>-time.png` in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    gap_path, time_path = out / f"{track}-gap.png", out / f"{track}-time.png"
    gap_chart(rows).save(gap_path)
    time_chart(rows).save(time_path)
    return [gap_path, time_path]
