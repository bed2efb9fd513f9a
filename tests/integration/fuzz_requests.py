"""Malformed and boundary request payloads for any rpc, generated from its descriptor.

Every rpc of every service in protos/suanchou/v1 is found through the generated modules, so an
rpc (or a whole .proto file) added later is fuzzed without touching this file. Payloads are raw
bytes: most start from a plausible message (field values picked by field name and type) that
is then broken in one way; the rest are random bytes, empty, or raw wire data no Python message
could hold (invalid UTF-8, overlong varints, wrong wire types).
"""

from __future__ import annotations

import base64
import importlib
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

PROTO_DIR = Path(__file__).resolve().parents[2] / "protos" / "suanchou" / "v1"
INT_EXTREMES = {
    FieldDescriptor.TYPE_INT32: (0, -1, 1, 2**31 - 1, -(2**31)),
    FieldDescriptor.TYPE_INT64: (0, -1, 1, 2**63 - 1, -(2**63), 2**53 + 1),
    FieldDescriptor.TYPE_UINT32: (0, 1, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 1, 2**64 - 1),
}
FLOAT_EXTREMES = (0.0, -1.0, float("nan"), float("inf"), -float("inf"), 1e308, -1e-308)


@dataclass(frozen=True)
class Rpc:
    path: str  # /package.Service/Method
    service: str  # package.Service
    request: Descriptor
    streaming: bool


@dataclass(frozen=True)
class Payload:
    rpc: Rpc
    kind: str
    data: bytes


def all_rpcs() -> list[Rpc]:
    """Every rpc of every service defined in protos/suanchou/v1, from the generated code."""
    rpcs: list[Rpc] = []
    for path in sorted(PROTO_DIR.glob("*_pb2.py")):
        module = importlib.import_module(f"protos.suanchou.v1.{path.stem}")
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                rpcs.append(
                    Rpc(
                        f"/{service.full_name}/{method.name}",
                        service.full_name,
                        method.input_type,
                        bool(method.server_streaming),
                    )
                )
    return rpcs


class Generator:
    """Payloads from one seeded random source; `strings` are ids and names worth hitting."""

    def __init__(self, seed: int, strings: list[str]) -> None:
        self.rng = random.Random(seed)
        self.strings = [
            *strings,
            "",
            "a",
            "x" * 129,
            "\t\n",
            "../../etc/passwd",
            "😀 公安局",
            "cpu",
            "memory",
            "nvidia.com/gpu",
            "hz",
            "default",
            "true",
            str(uuid.UUID(int=self.rng.getrandbits(128))),
            base64.urlsafe_b64encode(b"seq:1").decode(),
            base64.urlsafe_b64encode(b"name:a").decode(),
            base64.urlsafe_b64encode(f"seq:{2**64}".encode()).decode(),
        ]

    def payloads(self, rpc: Rpc, count: int) -> Iterator[Payload]:
        kinds: list[tuple[str, Callable[[Rpc], bytes]]] = [
            ("random_bytes", self._random_bytes),
            ("empty", lambda _: b""),
            ("plausible", lambda r: self.plausible(r.request).SerializeToString()),
            ("one_field_extreme", self._one_field_extreme),
            ("duplicate_ids", self._duplicates),
            ("invalid_utf8", self._invalid_utf8),
            ("huge_field", self._huge_field),
            ("truncated", self._truncated),
            ("raw_field", self._raw_field),
        ]
        weights = [10, 2, 20, 25, 10, 12, 3, 8, 10]
        for _ in range(count):
            kind, make = self.rng.choices(kinds, weights)[0]
            yield Payload(rpc, kind, make(rpc))

    # -- plausible messages -----------------------------------------------------------------

    def plausible(self, desc: Descriptor, depth: int = 0) -> Message:
        msg = message_factory.GetMessageClass(desc)()
        for fd in desc.fields:
            if depth > 3 or (depth > 0 and self.rng.random() < 0.3):
                continue
            self._fill(msg, fd, depth)
        return msg

    def _fill(self, msg: Message, fd: FieldDescriptor, depth: int) -> None:
        target = getattr(msg, fd.name)
        if _is_map(fd):
            key_fd, value_fd = (
                fd.message_type.fields_by_name["key"],
                fd.message_type.fields_by_name["value"],
            )
            for _ in range(self.rng.randint(0, 3)):
                key = self._scalar(key_fd)
                if value_fd.type == FieldDescriptor.TYPE_MESSAGE:
                    target[key].CopyFrom(self.plausible(value_fd.message_type, depth + 1))
                else:
                    target[key] = self._scalar(value_fd)
        elif fd.is_repeated:
            for _ in range(self.rng.randint(0, 3)):
                if fd.type == FieldDescriptor.TYPE_MESSAGE:
                    target.add().CopyFrom(self.plausible(fd.message_type, depth + 1))
                else:
                    target.append(self._scalar(fd))
        elif fd.type == FieldDescriptor.TYPE_MESSAGE:
            target.CopyFrom(self.plausible(fd.message_type, depth + 1))
        elif self.rng.random() < 0.8:
            setattr(msg, fd.name, self._scalar(fd))

    def _scalar(self, fd: FieldDescriptor) -> Any:
        kind = fd.type
        if kind == FieldDescriptor.TYPE_STRING:
            return self.rng.choice(self.strings)
        if kind == FieldDescriptor.TYPE_BYTES:
            return self.rng.randbytes(self.rng.randint(0, 16))
        if kind == FieldDescriptor.TYPE_BOOL:
            return self.rng.random() < 0.5
        if kind == FieldDescriptor.TYPE_ENUM:
            values = [v.number for v in fd.enum_type.values]
            return self.rng.choice([*values, *values, 99, -1, 2**31 - 1])
        if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return self.rng.choice([*FLOAT_EXTREMES, 0.5, 8.0])
        extremes = INT_EXTREMES.get(kind, INT_EXTREMES[FieldDescriptor.TYPE_INT32])
        return self.rng.choice([*extremes, 1, 2, 100, 1000, 4096])

    # -- breaking one thing ------------------------------------------------------------------

    def _random_bytes(self, rpc: Rpc) -> bytes:
        return self.rng.randbytes(self.rng.choice([1, 3, 17, 100, 1000, 5000]))

    def _leaves(
        self, desc: Descriptor, prefix: tuple[FieldDescriptor, ...] = ()
    ) -> list[tuple[FieldDescriptor, ...]]:
        """Field paths down to scalars (through singular and repeated messages, depth <= 3)."""
        out: list[tuple[FieldDescriptor, ...]] = []
        for fd in desc.fields:
            path = (*prefix, fd)
            if fd.type == FieldDescriptor.TYPE_MESSAGE and not _is_map(fd):
                if len(prefix) < 3:
                    out.extend(self._leaves(fd.message_type, path))
            else:
                out.append(path)
        return out

    def _one_field_extreme(self, rpc: Rpc) -> bytes:
        """A plausible message with one scalar set to a boundary value (or an unknown enum)."""
        msg = self.plausible(rpc.request)
        leaves = [p for p in self._leaves(rpc.request) if not _is_map(p[-1])]
        if not leaves:
            return msg.SerializeToString()
        path = self.rng.choice(leaves)
        holder: Any = msg
        for fd in path[:-1]:
            holder = getattr(holder, fd.name).add() if fd.is_repeated else getattr(holder, fd.name)
        last = path[-1]
        if last.type == FieldDescriptor.TYPE_ENUM:
            value: Any = self.rng.choice([99, -1, 2**31 - 1, -(2**31)])
        elif last.type in INT_EXTREMES:
            value = self.rng.choice(INT_EXTREMES[last.type])
        elif last.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            value = self.rng.choice(FLOAT_EXTREMES)
        elif last.type == FieldDescriptor.TYPE_STRING:
            value = self.rng.choice(["", "\x00", "a\x00b", "x" * 4096, "\u202e", "\ud7ff"])
        else:
            value = self._scalar(last)
        if last.is_repeated:
            getattr(holder, last.name).append(value)
        else:
            setattr(holder, last.name, value)
        return msg.SerializeToString()

    def _duplicates(self, rpc: Rpc) -> bytes:
        """A plausible message whose repeated fields hold the same element several times."""
        msg = self.plausible(rpc.request)
        for fd in rpc.request.fields:
            if fd.is_repeated and not _is_map(fd):
                items = getattr(msg, fd.name)
                if fd.type == FieldDescriptor.TYPE_MESSAGE:
                    first = items.add() if not len(items) else items[0]
                    for _ in range(self.rng.randint(1, 4)):
                        items.add().CopyFrom(first)
                else:
                    value = items[0] if len(items) else self._scalar(fd)
                    items.extend([value] * self.rng.randint(2, 5))
        return msg.SerializeToString()

    def _invalid_utf8(self, rpc: Rpc) -> bytes:
        """A plausible message plus one string field (possibly nested) that is not UTF-8."""
        base = self.plausible(rpc.request).SerializeToString()
        strings = [
            p for p in self._leaves(rpc.request) if p[-1].type == FieldDescriptor.TYPE_STRING
        ]
        if not strings:
            return base + self._random_bytes(rpc)
        path = self.rng.choice(strings)
        raw = self.rng.choice([b"\xff\xfe", b"\xc3\x28", b"ok\xed\xa0\x80", b"\x80" * 10])
        if _is_map(path[-1]):
            raw = _field(1, raw) + _field(2, b"v")
        data = _field(path[-1].number, raw)
        for fd in reversed(path[:-1]):
            data = _field(fd.number, data)
        return base + data

    def _huge_field(self, rpc: Rpc) -> bytes:
        """One string or bytes field of 100 KB to 2 MB."""
        base = self.plausible(rpc.request).SerializeToString()
        fields = [
            fd
            for fd in rpc.request.fields
            if fd.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_MESSAGE)
        ]
        size = self.rng.choice([100_000, 700_000, 2_000_000])
        if not fields:
            return base + _field(15, b"x" * size)
        fd = self.rng.choice(fields)
        inner = b"x" * size
        if fd.type == FieldDescriptor.TYPE_MESSAGE:
            inner = _field(1, inner)
        return base + _field(fd.number, inner)

    def _truncated(self, rpc: Rpc) -> bytes:
        data = self.plausible(rpc.request).SerializeToString()
        return data[: self.rng.randint(0, len(data))] if data else b"\x0a"

    def _raw_field(self, rpc: Rpc) -> bytes:
        """A plausible message plus a field with a random wire type, an overlong varint, or an
        unknown field number."""
        base = self.plausible(rpc.request).SerializeToString()
        numbers = [fd.number for fd in rpc.request.fields] or [1]
        number = self.rng.choice([*numbers, 999, 536870911])
        wire = self.rng.choice([0, 1, 2, 5, 3, 7])
        payload = self.rng.choice(
            [b"\xff" * 10 + b"\x01", b"\x80" * 11, b"\x05abc", self.rng.randbytes(8)]
        )
        return base + _varint((number << 3) | wire) + payload


def _is_map(fd: FieldDescriptor) -> bool:
    return fd.type == FieldDescriptor.TYPE_MESSAGE and bool(fd.message_type.GetOptions().map_entry)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, data: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint((number << 3) | 2) + _varint(len(data)) + data
