"""The checked-in generated code matches the .proto files and the pinned generator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import google.protobuf

REPO = Path(__file__).resolve().parents[1]
GENERATED = REPO / "protos" / "suanchou" / "v1"


def test_generated_code_is_up_to_date(tmp_path: Path) -> None:
    """Regenerating the protos into a temp dir gives byte-identical files."""
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_protos.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    fresh = tmp_path / "protos" / "suanchou" / "v1"
    names = sorted(p.name for p in fresh.iterdir() if p.suffix in (".py", ".pyi"))
    checked_in = sorted(
        p.name
        for p in GENERATED.iterdir()
        if p.suffix in (".py", ".pyi") and p.name != "__init__.py"
    )
    assert names == checked_in
    for name in names:
        assert (fresh / name).read_bytes() == (GENERATED / name).read_bytes(), (
            f"{name} is stale: run python scripts/gen_protos.py"
        )


def test_runtime_protobuf_is_at_least_the_generated_stamp() -> None:
    """The installed protobuf runtime is not older than the version stamped in generated code."""
    text = (GENERATED / "types_pb2.py").read_text()
    stamp = text.split("_runtime_version.Domain.PUBLIC,")[1].split("''")[0]
    wanted = tuple(int(x.strip()) for x in stamp.strip().rstrip(",").split(",")[:3])
    have = tuple(int(x) for x in google.protobuf.__version__.split(".")[:3])
    assert have >= wanted


def test_every_field_and_rpc_is_documented() -> None:
    """Each rpc, message field and enum value has a comment, for clients in other languages."""
    undocumented = []
    for proto in sorted(GENERATED.glob("*.proto")):
        lines = proto.read_text().splitlines()
        for i, line in enumerate(lines):
            code = line.strip()
            member = code.startswith("rpc ") or (
                code.endswith(";") and "=" in code and not code.startswith(("option", "syntax"))
            )
            if member and not (i and lines[i - 1].strip().startswith("//")) and "//" not in code:
                undocumented.append(f"{proto.name}:{i + 1}: {code}")
    assert undocumented == []
