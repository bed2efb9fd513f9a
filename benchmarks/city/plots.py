"""PNG plots of a city run, drawn with `benchmarks.plots.Canvas` (no plotting dependency; its
font has digits only, so the colours are the legend, listed in COLORS and in table.txt):

- `city-utilisation.png`: the pool's CPU utilisation over the period, one line per policy
  (x: hours, y: share of the pool, 0-1);
- `city-wait-cdf.png`: the wait CDF per policy (x: wait in hours up to the largest 99th
  percentile, y: share of jobs that waited at most that long, 0-1).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

from benchmarks.city.metrics import Metrics
from benchmarks.plots import BLACK, BLUE, GREEN, GREY, ORANGE, RED, Canvas, Color

COLORS: dict[str, Color] = {"separate": GREY, "kueue": ORANGE, "slurm": GREEN, "suanchou": BLUE}
WIDTH, HEIGHT, LEFT, BOTTOM, TOP, RIGHT = 640, 320, 50, 30, 16, 16


def _line(c: Canvas, points: Sequence[tuple[int, int]], color: Color) -> None:
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        steps = max(abs(x1 - x0), abs(y1 - y0), 1)
        for k in range(steps + 1):
            x = x0 + round((x1 - x0) * k / steps)
            y = y0 + round((y1 - y0) * k / steps)
            c.rect(x, y, x + 1, y + 1, color)


def _chart(series: dict[str, list[tuple[float, float]]], x_max: float) -> Canvas:
    """Lines of (x, y) with y in 0..1, x in 0..x_max."""
    c = Canvas(WIDTH, HEIGHT)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    c.rect(LEFT, TOP, LEFT, TOP + plot_h, BLACK)
    c.rect(LEFT, TOP + plot_h, WIDTH - RIGHT, TOP + plot_h, BLACK)
    for name, points in series.items():
        pixels = [
            (
                LEFT + round(min(x, x_max) / (x_max or 1) * plot_w),
                TOP + plot_h - round(max(0.0, min(1.0, y)) * plot_h),
            )
            for x, y in points
        ]
        _line(c, pixels, COLORS.get(name, RED))
    c.text(4, TOP, "1")
    c.text(4, TOP + plot_h - 10, "0")
    label = f"{x_max:.3g}"
    c.text(WIDTH - RIGHT - 8 * len(label), TOP + plot_h + 10, label)
    c.text(LEFT, TOP + plot_h + 10, "0")
    return c


def utilisation_chart(metrics: Sequence[Metrics], resource: str = "cpu") -> Canvas:
    series = {}
    x_max = 0.0
    for m in metrics:
        values = m.util_series.get(resource, [])
        series[m.policy] = [((k + 0.5) * m.util_bucket_h, v) for k, v in enumerate(values)]
        x_max = max(x_max, len(values) * m.util_bucket_h)
    return _chart(series, x_max)


def wait_cdf_chart(metrics: Sequence[Metrics]) -> Canvas:
    x_max = max([1e-3, *(m.wait_cdf_h[99] for m in metrics if len(m.wait_cdf_h) > 99)])
    series = {
        m.policy: [(w, q / 100) for q, w in enumerate(m.wait_cdf_h)] + [(x_max, 1.0)]
        for m in metrics
        if m.wait_cdf_h
    }
    return _chart(series, x_max)


def write_plots(metrics: Sequence[Metrics], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    util, cdf = out / "city-utilisation.png", out / "city-wait-cdf.png"
    utilisation_chart(metrics).save(util)
    wait_cdf_chart(metrics).save(cdf)
    return [util, cdf]
