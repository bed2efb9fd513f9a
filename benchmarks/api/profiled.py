"""python -m benchmarks.api.profiled OUT [server flags]: `suanchou server` with every thread
under cProfile; at exit (SIGTERM) the stats go to OUT.<group>.prof, one file per kind of thread
(`rpc` for gRPC's handler pool, `cycle` for the scheduling cycle, `other`), and a summary of
the top functions by cumulative and by own time to OUT.txt.

cProfile follows only the thread that enables it, and the server's work is on gRPC's pool
threads and the cycle's thread: `threading.setprofile` makes each new thread enable its own
profiler on its first event. Profiling costs the server roughly half its speed, so the rates
measured under it are not the benchmark's: it says where the time goes, not how much there is.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from scheduler.app import main as server_main

_profiles: list[tuple[str, cProfile.Profile]] = []
_lock = threading.Lock()


def _kind(name: str) -> str:
    if name.startswith("scheduling-cycle"):
        return "cycle"
    if name.startswith("rpc"):  # scheduler.api.server's handler pool
        return "rpc"
    return "other"


def _start(_frame: FrameType, _event: str, _arg: Any) -> None:
    """The first profile event of a new thread: hand the thread to its own profiler (which
    replaces this function as the thread's profile hook)."""
    profile = cProfile.Profile()
    with _lock:
        _profiles.append((_kind(threading.current_thread().name), profile))
    profile.enable()


def main(argv: list[str]) -> int:
    out = Path(argv[0])
    threading.setprofile(_start)
    code = server_main(argv[1:])
    threading.setprofile(None)
    summary = io.StringIO()
    with _lock:
        groups: dict[str, list[cProfile.Profile]] = {}
        for kind, profile in _profiles:
            profile.disable()  # only stops it on its thread when this is that thread
            groups.setdefault(kind, []).append(profile)
    for kind, profiles in sorted(groups.items()):
        stats = pstats.Stats(profiles[0], stream=summary)
        for extra in profiles[1:]:
            stats.add(extra)
        stats.dump_stats(f"{out}.{kind}.prof")
        print(f"===== {kind}: {len(profiles)} threads, by cumulative time", file=summary)
        stats.sort_stats("cumulative").print_stats(40)
        print(f"===== {kind}: by own time", file=summary)
        stats.sort_stats("tottime").print_stats(30)
    Path(f"{out}.txt").write_text(summary.getvalue())
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
