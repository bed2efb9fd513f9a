"""The city run's outputs: the tables (printed and in table.txt), results.csv, results.json.

results.csv has one line per policy and department (`department` = `all` for the pool) and one
line per 统筹 headline (`department` = `headline`, the fewest nodes in `nodes`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from benchmarks.city.headline import Headline
from benchmarks.city.metrics import Metrics
from benchmarks.city.plots import COLORS

COLUMNS = (
    "policy",
    "finished",
    "util cpu",
    "util mem",
    "util gpu",
    "wait mean h",
    "p95 h",
    "p99 h",
    "guarantee",
    "jain",
    "preempted",
    "lost replica-h",
    "cost ¥",
    "decisions",
    "wall s",
)


def markdown_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table: the header, its rule, one line per row."""
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def table(metrics: Sequence[Metrics]) -> str:
    rows = []
    for m in metrics:
        u = m.utilisation
        rows.append(
            (
                m.policy,
                f"{m.finished}/{m.jobs}",
                f"{u.get('cpu', 0):.3f}",
                f"{u.get('memory', 0):.3f}",
                f"{u.get('nvidia.com/gpu', 0):.3f}",
                f"{m.wait.mean_h:.2f}",
                f"{m.wait.p95_h:.2f}",
                f"{m.wait.p99_h:.2f}",
                f"{100 * m.guarantee:.1f}%",
                f"{m.jain:.3f}",
                str(m.preemptions),
                f"{m.lost_replica_h:.1f}",
                f"{m.cost:,.0f}",
                str(m.decisions),
                f"{m.wall_s:.1f}",
            )
        )
    return markdown_table(COLUMNS, rows)


def department_table(metrics: Sequence[Metrics]) -> str:
    """p95 wait in hours and guarantee kept per department (rows) and policy (columns)."""
    head = ["department", "entitled"]
    head += [f"{m.policy} p95 h" for m in metrics] + [f"{m.policy} kept" for m in metrics]
    rows = []
    for dept, share in metrics[0].entitled_share.items():
        cells = [dept, f"{share:.3f}"]
        cells += [f"{m.wait_by_department[dept].p95_h:.2f}" for m in metrics]
        cells += [f"{100 * m.guarantee_by_department.get(dept, 1.0):.1f}%" for m in metrics]
        rows.append(cells)
    return markdown_table(head, rows)


def headline_table(headlines: Sequence[Headline]) -> str:
    rows = []
    for h in headlines:
        tried = ", ".join(
            f"{s.fraction:.3f}:{'ok' if s.passed else 'no'}" for s in h.steps
        )  # fraction tried: passed or not
        rows.append(
            (
                h.policy,
                str(h.nodes),
                "not reached" if h.fewest_nodes is None else str(h.fewest_nodes),
                "-" if h.fewer_pct is None else f"{h.fewer_pct:.1f}%",
                tried,
            )
        )
    return markdown_table(
        ("policy", "pool nodes", "fewest nodes", "fewer", "fractions tried"), rows
    )


def text(metrics: Sequence[Metrics], headlines: Sequence[Headline]) -> str:
    parts = [table(metrics), "", department_table(metrics)]
    if headlines:
        parts += [
            "",
            "统筹: the fewest nodes with which the pooled policy gives every department a p95 "
            "wait <= its separate-clusters p95 (+ one cycle)",
            headline_table(headlines),
        ]
    legend = ", ".join(f"{p} {c}" for p, c in COLORS.items())
    parts += ["", f"plots (RGB colours): {legend}"]
    return "\n".join(parts)


def write(
    out: Path,
    metrics: Sequence[Metrics],
    headlines: Sequence[Headline],
    header: dict[str, object],
) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for m in metrics:
        plain = asdict(m)
        plain.pop("job_ids")
        rows.append(plain)
    heads = [{**asdict(h), "fewer_pct": h.fewer_pct} for h in headlines]
    json_path, csv_path, txt_path = out / "results.json", out / "results.csv", out / "table.txt"
    json_path.write_text(
        json.dumps({**header, "policies": rows, "headline": heads}, ensure_ascii=False, indent=1),
        encoding="utf-8",
    )
    txt_path.write_text(text(metrics, headlines) + "\n", encoding="utf-8")
    with csv_path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "policy",
                "department",
                "jobs",
                "wait_mean_h",
                "wait_p95_h",
                "wait_p99_h",
                "guarantee",
                "finished",
                "util_cpu",
                "util_memory",
                "util_gpu",
                "jain",
                "preemptions",
                "lost_replica_h",
                "lost_gpu_h",
                "cost",
                "cost_lost",
                "entitled",
                "delivered",
                "nodes",
            ]
        )
        for m in metrics:
            u = m.utilisation
            w.writerow(
                [
                    m.policy,
                    "all",
                    m.jobs,
                    m.wait.mean_h,
                    m.wait.p95_h,
                    m.wait.p99_h,
                    m.guarantee,
                    m.finished,
                    u.get("cpu"),
                    u.get("memory"),
                    u.get("nvidia.com/gpu"),
                    m.jain,
                    m.preemptions,
                    m.lost_replica_h,
                    m.lost_gpu_h,
                    m.cost,
                    m.cost_lost,
                    1.0,
                    1.0,
                    "",
                ]
            )
            for d, wd in m.wait_by_department.items():
                w.writerow(
                    [m.policy, d, wd.jobs, wd.mean_h, wd.p95_h, wd.p99_h]
                    + [m.guarantee_by_department.get(d, 1.0)]
                    + [""] * 10
                    + [m.entitled_share[d], m.delivered_share[d], ""]
                )
        for h in headlines:
            w.writerow([h.policy, "headline"] + [""] * 17 + [h.fewest_nodes or ""])
    return [json_path, csv_path, txt_path]
