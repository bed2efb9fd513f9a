"""Slurm's client programs (sbatch, squeue, scontrol, scancel, sacct), run with bounds.

Every call has a timeout and a cap on what it may print: a hung controller or a cluster with a
million jobs must not hang the agent's loop or fill its memory. Errors quote at most a short
prefix of what the program printed. The environment of a call is given explicitly (never the
agent's own, which holds its token).
"""

from __future__ import annotations

import os
import selectors
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence

# squeue over a large cluster prints about 150 bytes per job.
MAX_OUTPUT = 32 * 1024 * 1024
MAX_ERROR = 64 * 1024
DEFAULT_TIMEOUT = 20.0
# How much of a program's complaint an error message quotes.
QUOTE = 200


class SlurmError(Exception):
    """A Slurm command failed, timed out or printed too much; the message says which."""


def quote(text: str | bytes, limit: int = QUOTE) -> str:
    """A short printable prefix of `text`, for error messages and logs."""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    text = " ".join(text.split())
    return repr(text[:limit] + ("..." if len(text) > limit else ""))


class SlurmCommands:
    """Runs Slurm commands; `env` is the whole environment they see (PATH, SLURM_CONF...)."""

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_output: int = MAX_OUTPUT,
    ) -> None:
        self.env = dict(env) if env is not None else slurm_env(os.environ)
        self._timeout = timeout
        self._max_output = max_output

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes = b"",
        env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> str:
        """The command's stdout; SlurmError if it fails (unless not `check`), runs longer
        than the timeout or prints more than the cap."""
        rc, out, err = self.call(argv, stdin=stdin, env=env)
        if rc != 0 and check:
            raise SlurmError(f"{argv[0]} failed (exit {rc}): {quote(err or out)}")
        return out

    def call(
        self, argv: Sequence[str], *, stdin: bytes = b"", env: Mapping[str, str] | None = None
    ) -> tuple[int, str, str]:
        """(exit code, stdout, stderr) of one bounded run.

        The program is looked up on the agent's PATH, never on that of `env`: sbatch runs with
        the job's environment, and a job's PATH must not choose what the agent executes."""
        program = shutil.which(argv[0], path=self.env.get("PATH", os.defpath))
        if program is None:
            raise SlurmError(f"{argv[0]}: not found on PATH (is Slurm's client installed?)")
        try:
            proc = subprocess.Popen(
                [program, *argv[1:]],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=dict(self.env if env is None else env),
                start_new_session=True,
            )
        except OSError as exc:
            raise SlurmError(f"{argv[0]}: cannot run: {exc.strerror or exc}") from None
        with proc:  # closes the pipes whatever happens
            try:
                out, err = self._collect(proc, stdin, str(argv[0]))
            finally:
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
        return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")

    def _collect(
        self, proc: subprocess.Popen[bytes], stdin: bytes, name: str
    ) -> tuple[bytes, bytes]:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        deadline = time.monotonic() + self._timeout
        chunks: dict[int, list[bytes]] = {proc.stdout.fileno(): [], proc.stderr.fileno(): []}
        sizes = dict.fromkeys(chunks, 0)
        limits = {proc.stdout.fileno(): self._max_output, proc.stderr.fileno(): MAX_ERROR}
        pending = memoryview(stdin)
        with selectors.DefaultSelector() as selector:
            if pending:
                os.set_blocking(proc.stdin.fileno(), False)
                selector.register(proc.stdin, selectors.EVENT_WRITE)
            else:
                proc.stdin.close()
            selector.register(proc.stdout, selectors.EVENT_READ)
            selector.register(proc.stderr, selectors.EVENT_READ)
            while selector.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SlurmError(f"{name}: no answer within {self._timeout:g}s")
                for key, _ in selector.select(left):
                    if key.fileobj is proc.stdin:
                        try:
                            written = os.write(proc.stdin.fileno(), pending[:65536])
                        except BrokenPipeError:
                            written = len(pending)
                        pending = pending[written:]
                        if not pending:
                            selector.unregister(proc.stdin)
                            proc.stdin.close()
                        continue
                    fd = key.fd
                    data = os.read(fd, 65536)
                    if not data:
                        selector.unregister(key.fileobj)
                        continue
                    sizes[fd] += len(data)
                    if sizes[fd] > limits[fd]:
                        if fd == proc.stderr.fileno():
                            continue  # keep the first part of a noisy complaint
                        raise SlurmError(f"{name}: printed more than {limits[fd]} bytes")
                    chunks[fd].append(data)
        left = max(0.1, deadline - time.monotonic())
        try:
            proc.wait(left)
        except subprocess.TimeoutExpired:
            raise SlurmError(f"{name}: did not exit within {self._timeout:g}s") from None
        return b"".join(chunks[proc.stdout.fileno()]), b"".join(chunks[proc.stderr.fileno()])


# What Slurm's clients need from the agent's environment: where the programs and the
# configuration are. Nothing else of the agent's (its token above all) reaches them.
SLURM_PASSTHROUGH = ("PATH", "LANG", "LC_ALL", "TZ", "SLURM_CONF")


def slurm_env(agent_env: Mapping[str, str]) -> dict[str, str]:
    env = {name: agent_env[name] for name in SLURM_PASSTHROUGH if name in agent_env}
    env.setdefault("PATH", os.defpath)
    return env
