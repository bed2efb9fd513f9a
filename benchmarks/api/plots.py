"""PNG plots of the API track, drawn with `benchmarks.plots.Canvas` (no plotting dependency;
its font has digits only, so the colours are the legend, listed here and in the README):

- `api-unary.png`: unary SubmitJobs jobs/s (y, 0 to the largest value written at the top)
  against concurrent clients (x, 1 to 16); SQLite blue, PostgreSQL orange;
- `api-unary-p99.png`: the same with the p99 latency in ms;
- `api-queue-length.png`: jobs queued (y) over the seconds of the lease group (x), one line
  per offered rate: 50 green, 200 blue, 1,000 red; SQLite solid, PostgreSQL every other pixel;
- `api-queue-depth.png`: GetJob p99 (blue) and cycle p50 (red) in ms (y) against jobs queued
  (x); SQLite solid, PostgreSQL dotted.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

from benchmarks.api.report import QueueSample, Row
from benchmarks.plots import BLACK, BLUE, GREEN, ORANGE, RED, Canvas, Color

WIDTH, HEIGHT, LEFT, BOTTOM, TOP, RIGHT = 640, 320, 80, 30, 20, 20
DATABASE_COLORS: dict[str, Color] = {"sqlite": BLUE, "postgresql": ORANGE}
RATE_COLORS: dict[int, Color] = {50: GREEN, 200: BLUE, 1000: RED}

Series = tuple[list[tuple[float, float]], Color, bool]  # points, colour, dotted


def _line(c: Canvas, points: Sequence[tuple[int, int]], color: Color, dotted: bool) -> None:
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        steps = max(abs(x1 - x0), abs(y1 - y0), 1)
        for k in range(steps + 1):
            if dotted and k % 2:
                continue
            x = x0 + round((x1 - x0) * k / steps)
            y = y0 + round((y1 - y0) * k / steps)
            c.rect(x, y, x + 1, y + 1, color)


def chart(series: Sequence[Series]) -> Canvas:
    """Lines from (0, 0) to the largest x and y of all series; those maxima are written at
    the ends of the axes."""
    c = Canvas(WIDTH, HEIGHT)
    x_max = max([1e-9, *(x for pts, _, _ in series for x, _ in pts)])
    y_max = max([1e-9, *(y for pts, _, _ in series for _, y in pts)])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    c.rect(LEFT, TOP, LEFT, TOP + plot_h, BLACK)
    c.rect(LEFT, TOP + plot_h, WIDTH - RIGHT, TOP + plot_h, BLACK)
    for points, color, dotted in series:
        pixels = [
            (LEFT + round(x / x_max * plot_w), TOP + plot_h - round(y / y_max * plot_h))
            for x, y in points
        ]
        _line(c, pixels, color, dotted)
        for x, y in pixels:
            c.rect(x - 2, y - 2, x + 2, y + 2, color)
    c.text(4, TOP, f"{y_max:.4g}")
    c.text(4, TOP + plot_h - 10, "0")
    label = f"{x_max:.4g}"
    c.text(WIDTH - RIGHT - 8 * len(label), TOP + plot_h + 10, label)
    c.text(LEFT, TOP + plot_h + 10, "0")
    return c


def write_plots(rows: Sequence[Row], samples: Sequence[QueueSample], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    databases = list(dict.fromkeys(r.database for r in rows))
    for name, column in (("api-unary.png", "rate"), ("api-unary-p99.png", "p99_ms")):
        series: list[Series] = []
        for db in databases:
            points = [
                (float(r.level), float(getattr(r, column) or 0))
                for r in rows
                if r.database == db and r.phase == "unary"
            ]
            if points:
                series.append((points, DATABASE_COLORS.get(db, BLACK), False))
        if series:
            chart(series).save(out / name)
            written.append(out / name)
    queue_series: list[Series] = []
    for (db, rate), group in itertools.groupby(samples, key=lambda s: (s.database, s.rate)):
        points = [(s.t_s, float(s.queued)) for s in group]
        queue_series.append((points, RATE_COLORS.get(rate, BLACK), db == "postgresql"))
    if queue_series:
        chart(queue_series).save(out / "api-queue-length.png")
        written.append(out / "api-queue-length.png")
    depth: list[Series] = []
    for db in databases:
        part = [r for r in rows if r.database == db and r.phase == "queue"]
        for column, color in (("get_p99_ms", BLUE), ("cycle_p50_ms", RED)):
            points = [(float(r.level), float(getattr(r, column) or 0)) for r in part]
            if points:
                depth.append((points, color, db == "postgresql"))
    if depth:
        chart(depth).save(out / "api-queue-depth.png")
        written.append(out / "api-queue-depth.png")
    return written
