"""Published tracks through the runner and the command line: hand-made GAP and VBP files end to
end (table, CSV, JSON, solution files, PNG plots), the --quick plan, `suanchou bench`."""

from __future__ import annotations

import csv
import itertools
import json
import struct
import zlib
from pathlib import Path

import pytest

import benchmarks.__main__ as cli
from benchmarks import published
from benchmarks.report import Row, gap_pct, summary, track_table
from benchmarks.tracks import gap, vbp
from tests.benchmarks.tracks.conftest import locate_benchdata

# 2 agents x 4 jobs: cost rows, weight rows, capacities.
GAP_COST = ((4, 2, 6, 3), (3, 5, 2, 4))
GAP_WEIGHT = ((3, 2, 4, 2), (2, 3, 3, 3))
GAP_CAPACITY = (6, 6)
# d = 2, capacity 10 x 10; item lines (w1, w2, q).
VBP_CAPACITY = (10, 10)
VBP_ITEMS = ((6, 2, 2), (4, 8, 1), (3, 3, 2), (5, 5, 1))


def _gap_optimum() -> int:
    best = None
    for agents in itertools.product(range(2), repeat=4):
        load = [0, 0]
        for j, i in enumerate(agents):
            load[i] += GAP_WEIGHT[i][j]
        if all(load[i] <= GAP_CAPACITY[i] for i in range(2)):
            cost = sum(GAP_COST[i][j] for j, i in enumerate(agents))
            best = cost if best is None else min(best, cost)
    assert best is not None
    return best


def _benchdata(root: Path) -> Path:
    """A data root with one GAP and one VBP instance and their reference tables."""
    (root / "gap" / "tiny").mkdir(parents=True)
    numbers = [2, 4, *itertools.chain(*GAP_COST), *itertools.chain(*GAP_WEIGHT), *GAP_CAPACITY]
    (root / "gap" / "tiny" / "t1").write_text(" ".join(map(str, numbers)) + "\n")
    opt = _gap_optimum()
    (root / "gap" / "best_known.csv").write_text(
        f"file,dataset,min_best_bound,min_optimum,min_best_known\ntiny/t1,tiny,{opt},{opt},{opt}\n"
    )
    (root / "vbp" / "Panigrahy" / "class0").mkdir(parents=True)
    lines = ["2", "10 10", str(len(VBP_ITEMS)), *(" ".join(map(str, it)) for it in VBP_ITEMS)]
    (root / "vbp" / "Panigrahy" / "class0" / "class0_6_2_0.vbp").write_text("\n".join(lines))
    # Total size 27 x 23 of 10 x 10 bins: at least 3; {(6,2), (4,8)}, {(6,2), (3,3)},
    # {(3,3), (5,5)} reach it. A made-up "best heuristic" of 4 bins.
    (root / "vbp" / "Panigrahy_summary_known.tsv").write_text(
        "instance_name\tLB\tOPT\tbest_overall\nclass0_6_2_0\t3\t3\t4\n"
    )
    return root


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    start = data.index(b"IDAT") + 4
    length = struct.unpack(">I", data[start - 8 : start - 4])[0]
    raw = zlib.decompress(data[start : start + length])
    assert len(raw) == height * (1 + 3 * width)
    return width, height


def test_tiny_gap_and_vbp_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _benchdata(tmp_path / "data")
    out = tmp_path / "out"
    argv = ["--track", "gap,vbp", "--data", str(root), "--out", str(out), "--time-limit", "2"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "instance" in printed and "gap %" in printed and "at or better than optimum" in printed

    document = json.loads((out / "results.json").read_text(encoding="utf-8"))
    rows = {r["instance"]: r for r in document["rows"]}
    assert set(rows) == {"tiny/t1", "class0_6_2_0"}
    assert {"cores", "cpu_model", "suanchou", "ortools"} <= set(document["machine"])
    assert document["parameters"]["tracks"] == ["gap", "vbp"]
    assert document["parameters"]["time_limit_s"] == 2.0
    g, v = rows["tiny/t1"], rows["class0_6_2_0"]
    assert g["track_objective"] == g["reference"] == _gap_optimum() and g["gap_pct"] == 0.0
    assert v["track_objective"] == 3 and v["reference"] == 4
    assert v["gap_pct"] == pytest.approx(-25.0)
    for row in (g, v):
        assert row["failures"] == [] and row["track_feasible"] is True
    assert document["summary"]["gap"]["optimal"] == 1
    assert document["summary"]["vbp"]["at_or_better"]["best_overall"] == [1, 1]

    # The solution files read back through the track's own reader and evaluator.
    gap_inst = gap.load(root / "gap" / "tiny" / "t1")
    gap_sol = gap.read_solution(out / "solutions" / "gap" / "tiny" / "t1.txt", gap_inst)
    assert gap.evaluate(gap_inst, gap_sol) == (True, _gap_optimum(), [])
    vbp_inst = vbp.load(root / "vbp" / "Panigrahy" / "class0" / "class0_6_2_0.vbp")
    vbp_sol = vbp.read_solution(out / "solutions" / "vbp" / "class0_6_2_0.txt", vbp_inst)
    assert vbp.evaluate(vbp_inst, vbp_sol) == (True, 3, [])

    for track, name in (("gap", "tiny/t1"), ("vbp", "class0_6_2_0")):
        folder = out / track
        part = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        assert [r["instance"] for r in part["rows"]] == [name]
        with (folder / "results.csv").open(encoding="utf-8") as f:
            (line,) = list(csv.DictReader(f))
        assert line["instance"] == name and line["cores"] and line["reference"]
        assert "gap %" in (folder / "table.txt").read_text(encoding="utf-8")
        for plot in (f"{track}-gap.png", f"{track}-time.png"):
            width, height = _png_size(folder / plot)
            assert width >= 200 and height > 100


def test_filter_and_missing_data(tmp_path: Path) -> None:
    root = _benchdata(tmp_path / "data")
    out = tmp_path / "out"
    argv = ["--track", "gap,vbp", "--data", str(root), "--out", str(out), "--filter", "class0"]
    assert cli.main([*argv, "--time-limit", "1"]) == 0
    rows = json.loads((out / "results.json").read_text(encoding="utf-8"))["rows"]
    assert [r["instance"] for r in rows] == ["class0_6_2_0"]
    with pytest.raises(SystemExit) as exc:
        cli.main(["--track", "gap", "--data", str(tmp_path / "nowhere")])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        cli.main(["--track", "gap,nope"])
    assert exc.value.code == 2


def test_gap_summary_and_table() -> None:
    assert gap_pct(101, 100) == pytest.approx(1.0)
    assert gap_pct(99, 100) == pytest.approx(-1.0)
    assert gap_pct(0.9, 1.0, "max") == pytest.approx(10.0)
    assert gap_pct(5, 0) is None
    rows = []
    for name, objective, status in (("a", 10.0, "OPTIMAL"), ("b", 12.0, "FEASIBLE")):
        row = Row("gap", name, "cold", 1.0, jobs=4, nodes=2, status=status, engine_s=0.5)
        row.sense, row.reference_kind, row.reference = "min", "optimum", 10.0
        row.references = {"optimum": 10.0, "lower_bound": 10.0}
        row.track_objective, row.track_feasible = objective, True
        row.gap_pct = gap_pct(objective, 10.0)
        rows.append(row)
    failed = Row("gap", "c", "cold", 1.0, failures=["track evaluator: infeasible (x)"])
    failed.references = {"optimum": 10.0}
    rows.append(failed)
    s = summary(rows)
    assert s["instances"] == 3 and s["failed"] == 1 and s["feasible"] == 2
    assert s["optimal"] == 1
    assert s["mean_gap_pct"] == pytest.approx(10.0) and s["max_gap_pct"] == pytest.approx(20.0)
    assert s["at_or_better"] == {"optimum": [1, 3], "lower_bound": [1, 2]}
    assert s["strictly_better"] == {"optimum": [0, 3], "lower_bound": [0, 2]}
    text = track_table(rows)
    assert text.splitlines()[0].split() == [
        "instance",
        "size",
        "status",
        "objective",
        "reference",
        "gap",
        "%",
        "time",
        "s",
    ]
    assert "4x2" in text and "mean gap to optimum 10.000 %, median 10.000 %, max 20.000 %" in text
    assert "FAILED c: track evaluator: infeasible (x)" in text


def test_quick_plan_names_real_instances_with_short_budgets() -> None:
    """Every quick instance exists in the published data, and the subset stays CI-sized."""
    root = locate_benchdata()
    for track, (names, budget) in published.QUICK.items():
        available = {name for name, _ in published.MODULES[track].instances(root)}
        missing = set(names) - available
        assert not missing, f"{track}: {sorted(missing)} not in {root}"
        assert 0 < budget <= 5.0
    total = sum(len(names) * budget for names, budget in published.QUICK.values())
    assert total <= 60.0, f"quick engine budgets add up to {total} s"


def test_quick_plan_finds_its_instances() -> None:
    """Every quick instance exists in the published data, with its reference."""
    root = locate_benchdata()
    for track, (names, limit) in published.QUICK.items():
        instances = published.quick_track(track, root, None).instances()
        assert [i.name for i in instances] == list(names)
        assert all(i.time_limit_s == limit for i in instances)
        if track != "openb":
            assert all(i.reference is not None for i in instances)
    openb_source = published.Source(
        "openb", "default", root / "alibaba_openb_gpu_v2023" / "openb_pod_list_default.csv", 10, 800
    )
    problem = published.build(openb_source)
    assert (problem.num_jobs, problem.num_nodes) == (800, 153)


def test_suanchou_bench_dispatches_to_the_runner(capsys: pytest.CaptureFixture[str]) -> None:
    from scheduler.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["bench", "--help"])
    assert exc.value.code == 0
    assert "--track" in capsys.readouterr().out


def test_tiny_openb_is_compared_with_the_online_policies(tmp_path: Path) -> None:
    """The engine's GPU share against best-fit, worst-fit and FGD replayed on the same pods."""
    root = tmp_path / "data"
    folder = root / "alibaba_openb_gpu_v2023"
    folder.mkdir(parents=True)
    (folder / "openb_node_list_all_node.csv").write_text(
        "sn,cpu_milli,memory_mib,gpu,model\n"
        "n0,32000,131072,2,T4\nn1,32000,131072,1,V100M16\nn2,64000,262144,0,\n"
    )
    pods = [
        "p0,4000,8192,1,500,,LS,Running,1,,",
        "p1,4000,8192,1,1000,T4,LS,Running,2,,",
        "p2,8000,16384,0,0,,BE,Running,3,,",
        "p3,2000,4096,1,700,,LS,Running,4,,",
        "p4,2000,4096,2,1000,,LS,Running,5,,",
    ]
    (folder / "openb_pod_list_default.csv").write_text(
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,"
        "deletion_time,scheduled_time\n" + "\n".join(pods) + "\n"
    )
    out = tmp_path / "out"
    argv = ["--track", "openb", "--data", str(root), "--out", str(out), "--time-limit", "1"]
    assert cli.main(argv) == 0
    (row,) = json.loads((out / "results.json").read_text(encoding="utf-8"))["rows"]
    assert row["failures"] == [] and row["sense"] == "max" and row["reference_kind"] == "fgd"
    assert set(row["references"]) == {"best_fit", "worst_fit", "fgd"}
    assert row["reference"] == row["references"]["fgd"] == row["measures"]["fgd_share"]
    assert 0 < row["track_objective"] <= 1 and "fragmentation_rate" in row["measures"]
    lines = (out / "solutions" / "openb" / "default.txt").read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["p0", "p1", "p2", "p3", "p4"]
    _png_size(out / "openb" / "openb-gap.png")
