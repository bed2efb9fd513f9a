"""The few steps between spawning a replica and exec'ing its program.

The replica is started through this tiny Python trampoline rather than with preexec_fn:
preexec_fn makes subprocess fork() a process that has gRPC's threads and run Python in the
child before exec, and gRPC's fork handlers then occasionally abort that child (SIGABRT,
"epoll_wait error: Bad file descriptor"). Without preexec_fn, subprocess uses vfork/exec, which
is safe. The trampoline, in this order:

1. joins the run's cgroup (writes its own pid to cgroup.procs) and lowers its rlimits, while it
   still has the agent's privileges (agents.limits);
2. with `--run-as`, clears the supplementary groups and switches gid then uid
   (agents.runas);
3. sets PR_SET_PDEATHSIG=SIGKILL, which survives exec. It must come after step 2: the kernel
   clears the parent-death signal whenever the uid or gid changes. So if the agent dies, even
   by SIGKILL, its replicas die too, instead of running on while the scheduler requeues the
   same work elsewhere. The kernel ties this to the spawning *thread*, so spawn only from the
   agent's long-lived loop thread. If the agent died before this step, nobody will signal us:
   exit at once;
4. execs the program. A failure in any step exits 126 (127 if the program does not exist)
   with the reason on stderr (the run's stderr.log).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping

_CODE = r"""
import ctypes, json, os, signal, sys
agent_pid, setup, program = int(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
try:
    if setup.get("cgroup_procs"):
        with open(setup["cgroup_procs"], "w") as procs:
            procs.write(str(os.getpid()))
    import resource
    for name, value in setup.get("rlimits", {}).items():
        limit = getattr(resource, name)
        hard = resource.getrlimit(limit)[1]
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(limit, (value, value))
    if "uid" in setup:
        os.setgroups([])
        os.setgid(setup["gid"])
        os.setuid(setup["uid"])
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != agent_pid:  # the agent died before prctl: nobody will signal us
            os._exit(128 + signal.SIGKILL)
    os.execv(program, sys.argv[4:])
except OSError as exc:
    sys.stderr.write(f"spawn failed: {exc}\n")
    os._exit(127 if isinstance(exc, FileNotFoundError) else 126)
"""


def trampoline_argv(
    program: str, argv: list[str], setup: Mapping[str, object] | None = None
) -> list[str]:
    """The command line that runs `argv` (its argv[0] resolved to `program`) after `setup`:
    `cgroup_procs` (path), `rlimits` ({"RLIMIT_DATA": bytes, ...}), `uid` and `gid`."""
    payload = json.dumps(dict(setup or {}), separators=(",", ":"))
    return [sys.executable, "-I", "-S", "-c", _CODE, str(os.getpid()), payload, program, *argv]
