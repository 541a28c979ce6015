"""Generates the Python code for every .proto file under proto/.

    python proto/generate.py [OUT_DIR]

OUT_DIR defaults to the repository root, so `scheduler/v1/scheduler.proto` becomes
the package `scheduler.v1` (protobuf messages, type stubs and grpclib stubs).
The generated code is committed, so a fresh clone works without running this;
`nox -s proto` reruns it and a test checks that the committed code is current.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parent


def generate(out_dir: Path) -> None:
    sources = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    out_dir.mkdir(parents=True, exist_ok=True)
    # protoc-gen-grpclib_python lives beside the interpreter (grpclib installs it).
    plugin = Path(sys.executable).parent / "protoc-gen-grpclib_python"
    args = [
        "grpc_tools.protoc",
        f"--proto_path={PROTO_ROOT}",
        f"--plugin=protoc-gen-grpclib_python={plugin}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpclib_python_out={out_dir}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise SystemExit(f"protoc failed: {' '.join(args)}")


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else PROTO_ROOT.parent)
