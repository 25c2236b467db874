"""Wire format between ranks: numpy buffers only, never pickle.

- request  (worker -> 0, ``TAG_REQUEST``): ``int64[1] = [rank]``
- assign   (0 -> worker, ``TAG_ASSIGN``): ``int64[3 + k] = [chunk_id, attempt, bucket, *indices]``;
  ``chunk_id == STOP`` ends the worker.
- result   (worker -> 0, ``TAG_RESULT``): ``uint8`` buffer = ``b"HPCF"``, uint32 header length,
  a UTF-8 JSON header (chunk, per-ligand descriptors, timing), zero padding to 4 bytes, then one
  float32 array with every pose block (coords M*n*3, affinity M, inter M, intra M, terms M*5).
- final    (worker -> 0, ``TAG_FINAL``): ``uint8`` UTF-8 JSON of the rank's statistics.
"""

from __future__ import annotations

import json
import struct

import numpy as np

from hpcfold.types import DockResult, Failure, Reason

TAG_REQUEST, TAG_ASSIGN, TAG_RESULT, TAG_FINAL = 11, 12, 13, 14
STOP = -1
MAGIC = b"HPCF"


def encode_assign(chunk_id: int, attempt: int, bucket: int, indices: np.ndarray) -> np.ndarray:
    """(3 + k,) int64 assignment message."""
    msg = np.empty(3 + len(indices), dtype=np.int64)
    msg[:3] = (chunk_id, attempt, bucket)
    msg[3:] = indices
    return msg


def decode_assign(msg: np.ndarray) -> tuple[int, int, int, np.ndarray]:
    """-> (chunk_id, attempt, bucket, indices int64 (k,))."""
    return int(msg[0]), int(msg[1]), int(msg[2]), msg[3:].copy()


def encode_json(obj: dict) -> np.ndarray:
    return np.frombuffer(json.dumps(obj, separators=(",", ":")).encode(), dtype=np.uint8).copy()


def decode_json(buf: np.ndarray) -> dict:
    return json.loads(buf.tobytes().decode())


def encode_result(
    items: list[DockResult | Failure] | None, info: dict, error: str | None = None
) -> np.ndarray:
    """Pack one chunk's outcome (``items`` in chunk order, or ``error`` when the kernel raised).

    ``info`` is a JSON-able dict (chunk_id, attempt, rank, device, seconds, busy, ...).
    """
    descs, blocks = [], []
    for item in items or []:
        if isinstance(item, DockResult):
            m, n = item.coords.shape[:2]
            descs.append({"k": "r", "id": item.lig_id, "m": int(m), "n": int(n),
                          "s": float(item.seconds)})  # fmt: skip
            for arr in (item.coords, item.affinity, item.inter, item.intra, item.terms):
                blocks.append(np.asarray(arr, dtype=np.float32).ravel())
        elif isinstance(item, Failure):
            descs.append({"k": "f", "id": item.lig_id, "src": item.source, "smi": item.smiles,
                          "reason": int(item.reason), "msg": item.message})  # fmt: skip
        else:
            raise TypeError(f"kernel returned {type(item).__name__}, not DockResult | Failure")
    header = json.dumps({"info": info, "error": error, "items": descs}).encode()
    pad = (-(8 + len(header))) % 4
    data = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
    out = np.empty(8 + len(header) + pad + 4 * data.size, dtype=np.uint8)
    out[:4] = np.frombuffer(MAGIC, np.uint8)
    out[4:8] = np.frombuffer(struct.pack("<I", len(header)), np.uint8)
    out[8 : 8 + len(header)] = np.frombuffer(header, np.uint8)
    out[8 + len(header) : 8 + len(header) + pad] = 0
    out[8 + len(header) + pad :] = data.view(np.uint8)
    return out


def decode_result(buf: np.ndarray) -> tuple[list[DockResult | Failure], dict, str | None]:
    """Inverse of ``encode_result`` -> (items, info, error). Arrays are views into ``buf``."""
    buf = np.ascontiguousarray(buf, dtype=np.uint8)
    if buf.size < 8 or buf[:4].tobytes() != MAGIC:
        raise ValueError("not an hpcfold result message")
    hlen = int(buf[4:8].view("<u4")[0])
    header = json.loads(buf[8 : 8 + hlen].tobytes())
    start = 8 + hlen + ((-(8 + hlen)) % 4)
    data = np.frombuffer(buf.data, dtype=np.float32, offset=start)
    items: list[DockResult | Failure] = []
    pos = 0
    for d in header["items"]:
        if d["k"] == "r":
            m, n = d["m"], d["n"]
            end = pos + m * (3 * n + 8)
            if end > data.size:
                raise ValueError("result message is shorter than its header says")
            a, b, c = pos + m * n * 3, pos + m * n * 3 + m, pos + m * n * 3 + 2 * m
            items.append(
                DockResult(
                    lig_id=d["id"],
                    coords=data[pos:a].reshape(m, n, 3),
                    affinity=data[a:b],
                    inter=data[b:c],
                    intra=data[c : c + m],
                    terms=data[c + m : end].reshape(m, 5),
                    seconds=d["s"],
                )
            )
            pos = end
        else:
            items.append(Failure(d["id"], d["src"], d["smi"], Reason(d["reason"]), d["msg"]))
    if pos != data.size:
        raise ValueError(f"result message has {data.size - pos} unread values")
    return items, header["info"], header["error"]
