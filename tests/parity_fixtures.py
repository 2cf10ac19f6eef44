"""The parity fixtures: the repo's packed copy, unpacked once into a cache, or $MONKEYEVAL_PARITY_FIXTURES.

The upstream fixtures (`monkey/`, `textmonkey/`, `minimonkey/`, `tokenizer/`, each described by its
MANIFEST.md) are ~57 MB. `tests/fixtures/parity/` holds them packed, losslessly for everything a test reads:

- float32 tensors (checkpoints, reference arrays) are stored byte-plane transposed and xz-compressed
  (random float32 values barely compress otherwise); large text files are xz-compressed;
- files that are stored twice upstream are stored once (`copy` entries);
- files no test reads are left out (listed under `dropped` in PACKING.json, with the reason);
- Mini-Monkey's per-case `vit_embeds` are kept whole only where a test feeds them to the language model
  (the SCM cases and the case with decoder intermediates); elsewhere every 4th token of every tile is kept
  (`vit_embeds_strided` + `vit_embeds_token_stride`), which the vision check compares instead.

`PACKING.json` lists every file of the upstream layout that is rebuilt, how, and the sha256 of the upstream
bytes (or of each array): unpacking checks them all, so the unpacked tree is the upstream one. Packing:
`python tests/parity_fixtures.py pack SOURCE_DIR` (SOURCE_DIR in the upstream layout).
"""

from __future__ import annotations

import hashlib
import io
import json
import lzma
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKED_DIR = REPO_ROOT / "tests" / "fixtures" / "parity"
CACHE_DIR = REPO_ROOT / ".pytest_cache" / "parity-fixtures"
PACKING = "PACKING.json"
FAMILIES = ("monkey", "textmonkey", "minimonkey", "tokenizer")

# ------------------------------------------------------------------ codecs (bytes <-> stored bytes)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _transpose_planes(data: bytes, itemsize: int, inverse: bool = False) -> bytes:
    """Group the k-th byte of every item together (or undo it): exponents compress, mantissas cannot."""
    if itemsize == 1 or not data:
        return data
    array = np.frombuffer(data, dtype=np.uint8)
    shape = (itemsize, -1) if inverse else (-1, itemsize)
    return array.reshape(shape).T.tobytes()


def _safetensors_planes(data: bytes, inverse: bool) -> bytes:
    """A safetensors file with every tensor's bytes plane-transposed by its item size (header unchanged)."""
    header_len = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_len])
    body = bytearray(data[8 + header_len :])
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        itemsize = np.dtype(_SAFETENSORS_DTYPES[info["dtype"]]).itemsize
        body[start:end] = _transpose_planes(bytes(body[start:end]), itemsize, inverse)
    return data[: 8 + header_len] + bytes(body)


_SAFETENSORS_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "I64": "int64", "I32": "int32"}
_SAFETENSORS_DTYPES.update({"I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool"})
_NUMPY_TO_SAFETENSORS = {np.dtype(v).str: k for k, v in _SAFETENSORS_DTYPES.items()}


def _encode_arrays(arrays: dict[str, np.ndarray]) -> bytes:
    """Arrays -> a safetensors container (keys in order), without needing the safetensors package."""
    header: dict[str, Any] = {}
    chunks: list[bytes] = []
    offset = 0
    for key, value in arrays.items():
        raw = np.ascontiguousarray(value).tobytes()
        dtype = _NUMPY_TO_SAFETENSORS[value.dtype.str]
        span = [offset, offset + len(raw)]
        header[key] = {"dtype": dtype, "shape": list(value.shape), "data_offsets": span}
        chunks.append(raw)
        offset += len(raw)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    return len(encoded).to_bytes(8, "little") + encoded + b"".join(chunks)


def _decode_arrays(data: bytes) -> dict[str, np.ndarray]:
    header_len = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_len])
    body = data[8 + header_len :]
    arrays: dict[str, np.ndarray] = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = np.dtype(_SAFETENSORS_DTYPES[info["dtype"]])
        arrays[key] = np.frombuffer(body[start:end], dtype=dtype).reshape(info["shape"]).copy()
    return arrays


def _array_digest(value: np.ndarray) -> str:
    return _sha256(f"{value.dtype.str}{value.shape}".encode() + np.ascontiguousarray(value).tobytes())


def _xz(data: bytes) -> bytes:
    return lzma.compress(data, preset=9 | lzma.PRESET_EXTREME)


# ------------------------------------------------------------------ unpack


def _unpack_entry(packed: Path, out: Path, path: str, entry: dict[str, Any]) -> None:
    target = out / path
    target.parent.mkdir(parents=True, exist_ok=True)
    codec = entry["codec"]
    if codec == "copy":
        shutil.copyfile(out / entry["from"], target)
        data = target.read_bytes()
    elif codec == "xz":
        data = lzma.decompress((packed / entry["stored"]).read_bytes())
        target.write_bytes(data)
    elif codec == "safetensors-planes-xz":
        data = _safetensors_planes(lzma.decompress((packed / entry["stored"]).read_bytes()), inverse=True)
        target.write_bytes(data)
    elif codec == "npz-planes-xz":
        stored = _safetensors_planes(lzma.decompress((packed / entry["stored"]).read_bytes()), inverse=True)
        arrays = _decode_arrays(stored)
        digests = {key: _array_digest(value) for key, value in arrays.items()}
        if digests != entry["arrays_sha256"]:
            raise ValueError(f"{packed / entry['stored']}: arrays differ from {PACKING}; re-pack the fixture")
        np.savez(target, **arrays)  # type: ignore[arg-type]
        return
    else:
        raise ValueError(f"{packed / PACKING}: unknown codec {codec!r} for {path}")
    if _sha256(data) != entry["sha256"]:
        raise ValueError(f"{target}: sha256 differs from {packed / PACKING}; re-pack the fixture")


def unpack(packed: Path, out: Path) -> None:
    """Rebuild the upstream layout from a packed folder into `out` (which must not exist)."""
    manifest = json.loads((packed / PACKING).read_text(encoding="utf-8"))
    stored = {entry["stored"] for entry in manifest["files"].values() if "stored" in entry}
    for source in sorted(packed.rglob("*")):
        relative = source.relative_to(packed).as_posix()
        if source.is_file() and relative not in stored and relative not in (PACKING, "README.md"):
            (out / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, out / relative)
    ordered = sorted(manifest["files"].items(), key=lambda item: item[1]["codec"] == "copy")
    for path, entry in ordered:  # copies last: their sources are rebuilt first
        _unpack_entry(packed, out, path, entry)


def _unpacked_cache() -> Path:
    """The repository's packed fixture, unpacked once per PACKING.json version (safe across xdist workers)."""
    digest = _sha256((PACKED_DIR / PACKING).read_bytes())[:16]
    final = CACHE_DIR / digest
    if (final / PACKING).is_file():
        return final
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{digest}-", dir=CACHE_DIR))
    try:
        unpack(PACKED_DIR, building)
        shutil.copyfile(PACKED_DIR / PACKING, building / PACKING)  # marks the tree complete
        try:
            os.rename(building, final)
        except OSError:  # another worker finished first: its tree is the same
            if not (final / PACKING).is_file():
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return final


def parity_root() -> Path:
    """The parity fixture folder in the upstream layout: $MONKEYEVAL_PARITY_FIXTURES, else the repo's copy."""
    env = os.environ.get("MONKEYEVAL_PARITY_FIXTURES")
    if not env:
        return _unpacked_cache()
    root = Path(env)
    missing = [name for name in FAMILIES if not (root / name).is_dir()]
    if missing:
        raise FileNotFoundError(
            f"MONKEYEVAL_PARITY_FIXTURES={env}: no {', '.join(missing)} folder there; point it at the folder "
            "that holds monkey/, textmonkey/, minimonkey/ and tokenizer/, or unset it to use the repo's copy"
        )
    return root


# ------------------------------------------------------------------ pack

XZ_TEXT_MIN_BYTES = 100_000  # text files above this are xz-compressed
DROPPED = {
    "minimonkey/preprocess/tensors/": "each tile's uint8 sha256 and each case's float32/bf16 sha256 in "
    "preprocess/cases.jsonl check the same bytes",
}


VIT_TOKEN_STRIDE = 4


def _lm_input_cases(source: Path) -> set[str]:
    """Mini-Monkey generation array files whose vit_embeds a test feeds to the LM (kept whole)."""
    lines = (source / "minimonkey" / "generation" / "cases.jsonl").read_text(encoding="utf-8").splitlines()
    cases = [json.loads(line) for line in lines if line.strip()]
    kept = {f"minimonkey/{case['arrays_file']}" for case in cases if case["use_scm"]}
    for case in cases:
        with np.load(source / "minimonkey" / case["arrays_file"]) as npz:
            if "inter_llm_positions" in npz.files:
                kept.add(f"minimonkey/{case['arrays_file']}")
    return kept


def _pack_file(
    source: Path, relative: str, out: Path, seen: dict[str, str], strided: set[str]
) -> dict[str, Any] | None:
    """Store one upstream file under `out`; return its PACKING entry (None: stored verbatim)."""
    data = source.read_bytes()
    digest = _sha256(data)
    if digest in seen:
        return {"codec": "copy", "from": seen[digest], "sha256": digest}
    if source.suffix != ".npz":  # an npz is rebuilt array by array (and may be strided): never a copy source
        seen[digest] = relative
    encoders: dict[str, Callable[[], tuple[str, bytes, dict[str, Any]]]] = {
        ".safetensors": lambda: ("safetensors-planes-xz", _xz(_safetensors_planes(data, inverse=False)), {}),
        ".npz": lambda: _pack_npz(data, stride_vit_embeds=relative in strided),
    }
    if source.suffix in encoders:
        codec, blob, extra = encoders[source.suffix]()
    elif len(data) >= XZ_TEXT_MIN_BYTES and source.suffix != ".png":
        codec, blob, extra = "xz", _xz(data), {}
    else:
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, out / relative)
        return None
    stored = f"{relative}.xz"
    (out / stored).parent.mkdir(parents=True, exist_ok=True)
    (out / stored).write_bytes(blob)
    entry = {"codec": codec, "stored": stored, **extra}
    if codec != "npz-planes-xz":
        entry["sha256"] = digest
    return entry


def _pack_npz(data: bytes, stride_vit_embeds: bool) -> tuple[str, bytes, dict[str, Any]]:
    with np.load(io.BytesIO(data)) as npz:
        arrays = {key: npz[key] for key in npz.files}
    if stride_vit_embeds:
        arrays["vit_embeds_strided"] = arrays.pop("vit_embeds")[:, ::VIT_TOKEN_STRIDE]
        arrays["vit_embeds_token_stride"] = np.array(VIT_TOKEN_STRIDE, dtype=np.int64)
    container = _safetensors_planes(_encode_arrays(arrays), inverse=False)
    digests = {key: _array_digest(value) for key, value in arrays.items()}
    return "npz-planes-xz", _xz(container), {"arrays_sha256": digests}


def pack(source: Path, out: Path) -> None:
    """Pack an upstream-layout fixture folder into `out` (README.md there is kept)."""
    manifest: dict[str, Any] = {"files": {}, "dropped": {}}
    seen: dict[str, str] = {}
    lm_inputs = _lm_input_cases(source)
    strided = {
        p.relative_to(source).as_posix() for p in (source / "minimonkey" / "generation").glob("*.npz")
    } - lm_inputs
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        relative = path.relative_to(source).as_posix()
        if relative == "README.md":
            relative = "UPSTREAM_README.md"
        reason = next((why for prefix, why in DROPPED.items() if relative.startswith(prefix)), None)
        if reason is not None:
            manifest["dropped"][relative] = reason
            continue
        entry = _pack_file(path, relative, out, seen, strided)
        if entry is not None:
            manifest["files"][relative] = entry
    (out / PACKING).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "pack":
        raise SystemExit("usage: python tests/parity_fixtures.py pack SOURCE_DIR")
    source_dir = Path(sys.argv[2])
    for old in PACKED_DIR.glob("*"):
        if old.name != "README.md":
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    pack(source_dir, PACKED_DIR)
    print(f"packed {source_dir} into {PACKED_DIR}")
