"""Regenerate the checked-in protobuf and gRPC code under protos/.

Run with the pinned grpcio-tools and mypy-protobuf from pyproject's `dev` extra:
    python scripts/gen_protos.py            # write next to the .proto files
    python scripts/gen_protos.py --out DIR  # write into DIR (used by the drift test)
The repository root is the include path, so `protos/suanchou/v1/jobs.proto` becomes the module
`protos.suanchou.v1.jobs_pb2` and the .proto files import each other by that same path.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "protos" / "suanchou" / "v1"


def proto_files() -> list[Path]:
    return sorted(PROTO_DIR.glob("*.proto"))


def generate(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    import grpc_tools

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "protoc",
        *_plugins(),
        f"-I{ROOT}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--mypy_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_grpc_out={out}",
        *[str(p.relative_to(ROOT)) for p in proto_files()],
    ]
    code = protoc.main(args)
    if code != 0:
        raise SystemExit(f"protoc failed with exit code {code}")


def _plugins() -> list[str]:
    """mypy-protobuf's plugins from this interpreter's environment, activated or not."""
    bindir = Path(sys.executable).parent
    found = []
    for name in ("protoc-gen-mypy", "protoc-gen-mypy_grpc"):
        path = bindir / name
        if not path.exists():
            which = shutil.which(name)
            if which is None:
                raise SystemExit(f"{name} not found: pip install -e '.[dev]' (mypy-protobuf)")
            path = Path(which)
        found.append(f"--plugin={name}={path}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT, help="output root")
    args = parser.parse_args()
    generate(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
