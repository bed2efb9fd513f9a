"""Files that are one whitespace-separated stream of integers (GAP, VBP, ROADEF).

Parsing is the hot path (1,620 VBP files; ROADEF B/X files with 25M machine-move costs), so
integers are converted a chunk at a time in C (`bytes.split` + `map(int, ...)`); positions for
error messages are only computed when something is wrong, by rescanning the file.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, overload

import numpy as np

from benchmarks.tracks import FormatError

CHUNK_BYTES = 1 << 22
_TOKEN = re.compile(rb"\S+")


def _tokens(path: Path) -> Iterator[tuple[int, int, bytes]]:
    """(line, column, token) of every token; only for error messages."""
    data = path.read_bytes()
    line, line_start = 1, 0
    scanned = 0
    for match in _TOKEN.finditer(data):
        start = match.start()
        newlines = data.count(b"\n", scanned, start)
        if newlines:
            line += newlines
            line_start = data.rindex(b"\n", scanned, start) + 1
        scanned = start
        yield line, start - line_start + 1, match.group()


def where(path: Path, index: int) -> str:
    """`file:line:col (integer #k)` of the integer with 0-based stream index `index`, or the end
    of the file when the stream is shorter."""
    last = (1, 1)
    for k, (line, col, _) in enumerate(_tokens(path)):
        if k == index:
            return f"{path}:{line}:{col} (integer #{index + 1})"
        last = (line, col)
    return f"{path}:{last[0]}:{last[1]} (end of file, integer #{index + 1} expected)"


def _bad_token(path: Path) -> FormatError:
    for k, (line, col, token) in enumerate(_tokens(path)):
        try:
            int(token)
        except ValueError:
            return FormatError(
                f"{path}:{line}:{col} (integer #{k + 1}): expected an integer, found {token!r}"
            )
    return FormatError(f"{path}: unreadable integer stream")


def _parse(path: Path, data: bytes) -> list[int]:
    try:
        return list(map(int, data.split()))
    except ValueError:
        raise _bad_token(path) from None


def read_ints(path: Path) -> list[int]:
    """All integers of a small file."""
    return _parse(path, path.read_bytes())


_DIGIT_VALUES = bytes.maketrans(b"0123456789", bytes(range(10)))


class IntStream:
    """Sequential reader over a large integer file, holding one chunk in memory at a time.

    Tokens are converted when taken: a run of one-digit tokens (the typical machine-move-cost
    row) becomes integers through one C-level byte translation, about ten times faster than
    int() per token. `position` is the 0-based index of the next integer, which `where` turns
    into line:column.
    """

    def __init__(self, path: Path, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.path = path
        self._file: BinaryIO = path.open("rb")
        self._chunk_bytes = chunk_bytes
        self._buf: list[bytes] = []
        self._pos = 0
        self._base = 0
        self._tail = b""
        self._eof = False

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> IntStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def position(self) -> int:
        return self._base + self._pos

    def _fill(self) -> bool:
        """Load the next chunk's tokens; False at the end of the file."""
        while not self._eof:
            chunk = self._file.read(self._chunk_bytes)
            if not chunk:
                self._eof = True
                data, self._tail = self._tail, b""
            else:
                data = self._tail + chunk
                # The last token may continue in the next chunk: keep it back.
                cut = max(data.rfind(b" "), data.rfind(b"\n"), data.rfind(b"\t"), data.rfind(b"\r"))
                data, self._tail = data[: cut + 1], data[cut + 1 :]
            tokens = data.split()
            if tokens:
                self._base += len(self._buf)
                self._buf, self._pos = tokens, 0
                return True
        return False

    def _ints(self, tokens: list[bytes]) -> list[int]:
        digits = self._digits(tokens)
        if digits is not None:
            return list(digits)
        try:
            return list(map(int, tokens))
        except ValueError:
            raise _bad_token(self.path) from None

    @staticmethod
    def _digits(tokens: list[bytes]) -> bytes | None:
        """The values as bytes 0..9 when every token is a single digit, else None."""
        joined = b"".join(tokens)
        if len(joined) == len(tokens) and joined.isdigit():
            return joined.translate(_DIGIT_VALUES)
        return None

    def _tokens(self, n: int, what: str) -> list[bytes]:
        end = self._pos + n
        if end <= len(self._buf):
            self._pos = end
            return self._buf[end - n : end]
        tokens = self._buf[self._pos :]
        self._pos = len(self._buf)
        while len(tokens) < n:
            if not self._fill():
                raise FormatError(f"{where(self.path, self.position)}: file ends before {what}")
            need = n - len(tokens)
            tokens.extend(self._buf[:need])
            self._pos = min(need, len(self._buf))
        return tokens

    def take(self, n: int, what: str) -> list[int]:
        """The next n integers; `what` names them for the error when the file is too short."""
        return self._ints(self._tokens(n, what))

    def take_row(self, n: int, what: str) -> bytes | list[int]:
        """Like `take`, but a row of one-digit values comes back as bytes (values 0..9), which
        `RowsBuilder.add` copies without creating an int object per value."""
        tokens = self._tokens(n, what)
        digits = self._digits(tokens)
        return digits if digits is not None else self._ints(tokens)

    def at_end(self) -> bool:
        return self._pos >= len(self._buf) and not self._fill()


# Smallest array type codes first: machine-move costs are tiny integers in every public set,
# so 5,000 x 5,000 of them fit in 25 MB instead of 200 MB of int64.
_LIMITS = {
    "B": 0xFF,
    "H": 0xFFFF,
    "I": (1 << (8 * array("I").itemsize)) - 1,
    "q": (1 << 63) - 1,
}


class CompactRows(Sequence[Sequence[int]]):
    """A read-only matrix of non-negative integers in one flat array of the smallest sufficient
    type. Rows are zero-copy `memoryview`s; `flat` exposes the buffer for consumers that want it
    whole (numpy.frombuffer, bulk CP-SAT coefficients); `top` is the largest value."""

    __slots__ = ("flat", "top", "width")

    def __init__(self, flat: array[int], width: int, top: int) -> None:
        if width <= 0 or len(flat) % width:
            raise ValueError(f"{len(flat)} values do not make rows of width {width}")
        self.flat = flat
        self.width = width
        self.top = top

    def __len__(self) -> int:
        return len(self.flat) // self.width

    @overload
    def __getitem__(self, index: int) -> memoryview: ...

    @overload
    def __getitem__(self, index: slice) -> list[memoryview]: ...

    def __getitem__(self, index: int | slice) -> memoryview | list[memoryview]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"row {index} out of range 0..{n - 1}")
        start = index * self.width
        return memoryview(self.flat)[start : start + self.width]

    def scaled(self, factor: int) -> CompactRows:
        """A copy with every value multiplied by `factor` (>= 0), re-compacted."""
        if factor < 0:
            raise ValueError(f"negative factor {factor}")
        if factor == 1:
            return self
        top = self.top * factor
        if self.flat.typecode == "B" and top <= _LIMITS["B"]:
            # The common case (small costs times a small weight) in C: one byte-table lookup.
            table = bytes(min(v * factor, 0xFF) for v in range(256))
            flat: array[int] = array("B")
            flat.frombytes(self.flat.tobytes().translate(table))
            return CompactRows(flat, self.width, top)
        if top > _LIMITS["q"]:
            raise ValueError(f"{top} does not fit 64 bits")
        # numpy on the buffer (0.1 s for ROADEF B/X's 25M costs, 3 s as a Python loop); the
        # widened type holds top, so the product cannot overflow.
        code = next(c for c, limit in _LIMITS.items() if top <= limit)
        values = np.frombuffer(self.flat, dtype=np.dtype(self.flat.typecode))
        flat = array(code)
        flat.frombytes((values.astype(np.dtype(code)) * factor).tobytes())
        return CompactRows(flat, self.width, top)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CompactRows):
            return self.width == other.width and self.flat == other.flat
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.width, len(self.flat), self.top))

    def __repr__(self) -> str:
        return f"CompactRows({len(self)}x{self.width}, typecode={self.flat.typecode!r})"


class RowsBuilder:
    """Appends non-negative integer rows, widening the array type only when a value needs it."""

    def __init__(self) -> None:
        self._flat: array[int] = array("B")
        self._top = 0

    def add(self, values: bytes | list[int]) -> None:
        """Append values; ValueError if one is negative or does not fit 64 bits."""
        if not values:
            return
        high = max(values)
        if isinstance(values, bytes):
            if self._flat.typecode == "B":
                self._flat.frombytes(values)
            else:
                self._flat.fromlist(list(values))
            self._top = max(self._top, high)
            return
        low = min(values)
        if low < 0:
            raise ValueError(f"negative value {low}")
        if high > _LIMITS[self._flat.typecode]:
            if high > _LIMITS["q"]:
                raise ValueError(f"{high} does not fit 64 bits")
            code = next(c for c, limit in _LIMITS.items() if high <= limit)
            self._flat = array(code, self._flat)
        self._flat.fromlist(values)
        self._top = max(self._top, high)

    def build(self, width: int) -> CompactRows:
        return CompactRows(self._flat, width, self._top)
