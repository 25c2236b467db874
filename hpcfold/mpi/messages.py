"""Wire format between ranks: numpy buffers only, never pickle.

- request  (worker -> 0, ``TAG_REQUEST``): ``int64[2] = [rank, credits]``, sent once when the
  worker starts: it wants ``credits`` chunks outstanding (one running, one read ahead).
- assign   (0 -> worker, ``TAG_ASSIGN``): ``int64[3 + k] = [chunk_id, attempt, bucket, *indices]``;
  ``chunk_id == STOP`` ends the worker.
- result   (worker -> 0, ``TAG_RESULT``): one chunk's outcome, which is also the worker's request
  for one more chunk (one message per chunk each way keeps rank 0's cost per chunk low). A
  ``uint8`` buffer of 8-byte aligned sections, binary except for rare free text:

  ======================  ==============================================================
  int64[8]                magic, n_items, text bytes, JSON bytes, chunk_id, attempt, rank,
                          bit mask of the fixed ``info`` keys present (``INFO_INT``, then
                          ``INFO_STR``, then ``INFO_FLOAT``; bit 10: an error text follows)
  float64[5]              ``INFO_FLOAT`` values (t_start, t_done, busy_s, wall_s, busy)
  int64[3 n_items]        per item: kind (0 result, 1 failure), modes M, atoms n
  float64[n_items]        per item: kernel seconds (results)
  UTF-8 text, padded      ``"\\x1f".join([device, host, *ligand ids])``
  UTF-8 JSON, padded      only when needed: other ``info`` keys, failure details, the
                          error text, ligand ids that contain ``\\x1f``
  float32[...]            per result: coords M*n*3, affinity M, inter M, intra M, terms M*len(TERMS)
  ======================  ==============================================================
- final    (worker -> 0, ``TAG_FINAL``): ``uint8`` UTF-8 JSON of the rank's statistics.
"""

from __future__ import annotations

import json
import struct

import numpy as np

from hpcfold.types import TERMS, DockResult, Failure, Reason

TAG_REQUEST, TAG_ASSIGN, TAG_RESULT, TAG_FINAL = 11, 12, 13, 14
STOP = -1
MAGIC = 0x3256_4350_4648  # b"HFPCV2" read as a little-endian integer
SEP = "\x1f"  # ASCII unit separator between the message's short strings
INFO_INT = ("chunk_id", "attempt", "rank")
INFO_STR = ("device", "host")
INFO_FLOAT = ("t_start", "t_done", "busy_s", "wall_s", "busy")
_HEAD = 8 * 8 + 5 * 8  # bytes of the two fixed sections
_FIXED = struct.Struct("<8q5d")
_I64 = struct.Struct("<q")
_INFO_KEYS = (*INFO_INT, *INFO_STR, *INFO_FLOAT)
_ALL_INFO = (1 << len(_INFO_KEYS)) - 1
_ERR_BIT = len(_INFO_KEYS)  # mask bit: the JSON part holds an error text
_EMPTY: dict = {}


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


def _pad8(n: int) -> int:
    return n + (-n) % 8


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def encode_result(
    items: list[DockResult | Failure] | None, info: dict, error: str | None = None
) -> np.ndarray:
    """Pack one chunk's outcome (``items`` in chunk order, or ``error`` when the kernel raised).

    ``info`` is a JSON-able dict (chunk_id, attempt, rank, device, host, t_start, t_done,
    busy_s, wall_s, busy and any other keys); ``decode_result`` returns it unchanged.
    """
    items = items or []
    n = len(items)
    ints = np.zeros((n, 3), np.int64)
    secs = np.zeros(n, np.float64)
    ids, blocks, fails = [], [], {}
    for k, item in enumerate(items):
        if isinstance(item, DockResult):
            m, na = item.coords.shape[:2]
            ints[k] = (0, m, na)
            secs[k] = item.seconds
            for arr in (item.coords, item.affinity, item.inter, item.intra, item.terms):
                blocks.append(np.asarray(arr, dtype=np.float32).ravel())
        elif isinstance(item, Failure):
            ints[k, 0] = 1
            fails[str(k)] = [item.source, item.smiles, int(item.reason), item.message]
        else:
            raise TypeError(f"kernel returned {type(item).__name__}, not DockResult | Failure")
        ids.append(item.lig_id)
    head = np.zeros(8, np.int64)
    floats = np.zeros(5, np.float64)
    mask, extra = 0, {}
    for key, val in info.items():
        if key in INFO_INT and _is_int(val):
            head[4 + INFO_INT.index(key)] = val
            mask |= 1 << INFO_INT.index(key)
        elif key in INFO_STR and isinstance(val, str) and SEP not in val:
            mask |= 1 << (3 + INFO_STR.index(key))
        elif key in INFO_FLOAT and isinstance(val, float):
            floats[INFO_FLOAT.index(key)] = val
            mask |= 1 << (5 + INFO_FLOAT.index(key))
        else:
            extra[key] = val
    strs = [info[k] if mask >> (3 + i) & 1 else "" for i, k in enumerate(INFO_STR)]
    tail: dict = {}  # rare data, as JSON: other info keys, failures, an error, odd ids
    if extra:
        tail["info"] = extra
    if fails:
        tail["fail"] = fails
    if error is not None:
        tail["err"] = str(error)
    if any(SEP in i for i in ids):  # a control character in a file's title: JSON carries it
        tail["ids"], ids = ids, []
    text = SEP.join([*strs, *ids]).encode()
    js = json.dumps(tail).encode() if tail else b""
    head[:4] = (MAGIC, n, len(text), len(js))
    head[7] = mask | (error is not None) << _ERR_BIT
    data = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
    t0 = _HEAD + 32 * n
    j0 = t0 + _pad8(len(text))
    d0 = j0 + _pad8(len(js))
    out = np.zeros(d0 + 4 * data.size, dtype=np.uint8)
    out[:64] = head.view(np.uint8)
    out[64:_HEAD] = floats.view(np.uint8)
    out[_HEAD : _HEAD + 24 * n] = ints.view(np.uint8).ravel()
    out[_HEAD + 24 * n : t0] = secs.view(np.uint8)
    out[t0 : t0 + len(text)] = np.frombuffer(text, np.uint8)
    out[j0 : j0 + len(js)] = np.frombuffer(js, np.uint8)
    out[d0:] = data.view(np.uint8)
    return out


def _new_result(lig_id, coords, affinity, inter, intra, terms, seconds) -> DockResult:
    """``DockResult(...)`` without the frozen dataclass's per-field ``object.__setattr__``
    (a third of rank 0's decoding time per ligand); the fields are the same."""
    obj = object.__new__(DockResult)
    obj.__dict__.update(lig_id=lig_id, coords=coords, affinity=affinity, inter=inter,
                        intra=intra, terms=terms, seconds=seconds)  # fmt: skip
    return obj


def _info(mask: int, ints: tuple, texts: list, floats: tuple) -> dict:
    if mask == _ALL_INFO:  # the worker's usual message: every fixed key present
        return dict(zip(_INFO_KEYS, (*ints, texts[0], texts[1], *floats)))
    info: dict = {}
    for i, (key, val) in enumerate(zip(_INFO_KEYS, (*ints, *texts[:2], *floats))):
        if mask >> i & 1:
            info[key] = val
    return info


def result_header(buf: np.ndarray) -> tuple[int, bool]:
    """-> (chunk_id, the chunk raised): what the scheduler needs to hand out the next chunk
    before it decodes the rest (``decode_result`` validates the whole message)."""
    head = _FIXED.unpack_from(_view(buf))
    return int(head[4]), bool(head[3]) and head[7] >> _ERR_BIT & 1 == 1


def _view(buf) -> memoryview:
    view = memoryview(buf)
    if view.format != "B" or view.ndim != 1 or not view.c_contiguous:
        view = memoryview(np.ascontiguousarray(buf, dtype=np.uint8)).cast("B")
    if len(view) < _HEAD or _I64.unpack_from(view)[0] != MAGIC:
        raise ValueError("not an hpcfold result message")
    return view


def decode_result(buf: np.ndarray) -> tuple[list[DockResult | Failure], dict, str | None]:
    """Inverse of ``encode_result`` -> (items, info, error). Arrays are views into ``buf``.

    Header fields are read with ``struct`` and items are built without per-field numpy calls
    (a few numpy calls cost more than the whole header): rank 0 decodes one of these per
    chunk, and its time per chunk bounds the job size (bench/bench_scheduler.py).
    """
    view = _view(buf)
    _, n, tlen, jlen, chunk_id, attempt, rank, mask, *floats = _FIXED.unpack_from(view)
    t0 = _HEAD + 32 * n
    j0 = t0 + tlen + (-tlen) % 8
    d0 = j0 + jlen + (-jlen) % 8
    size = len(view)
    if n < 0 or d0 > size or (size - d0) % 4:
        raise ValueError("result message is shorter than its header says")
    ints = struct.unpack_from(f"<{3 * n}q", view, _HEAD) if n else ()
    secs = struct.unpack_from(f"<{n}d", view, _HEAD + 24 * n) if n else ()
    texts = str(view[t0 : t0 + tlen], "utf-8").split(SEP)
    tail = json.loads(bytes(view[j0 : j0 + jlen])) if jlen else _EMPTY
    ids = tail.get("ids") or texts[2:]
    info = _info(mask & _ALL_INFO, (chunk_id, attempt, rank), texts, floats)
    if "info" in tail:
        info.update(tail["info"])
    error = tail.get("err")
    data = np.frombuffer(view, np.float32, offset=d0)
    n_data = data.size
    items: list[DockResult | Failure] = []
    pos = 0
    for k in range(n):
        kind, m, na = ints[3 * k : 3 * k + 3]
        if kind == 0:
            a = pos + m * na * 3
            end = a + 8 * m
            if end > n_data:
                raise ValueError("result message is shorter than its header says")
            items.append(
                _new_result(
                    ids[k],
                    data[pos:a].reshape(m, na, 3),
                    data[a : a + m],
                    data[a + m : a + 2 * m],
                    data[a + 2 * m : a + 3 * m],
                    data[a + 3 * m : end].reshape(m, len(TERMS)),
                    secs[k],
                )  # fmt: skip
            )
            pos = end
        else:
            src, smi, reason, message = tail["fail"][str(k)]
            items.append(Failure(ids[k], src, smi, Reason(reason), message))
    if pos != n_data:
        raise ValueError(f"result message has {n_data - pos} unread values")
    return items, info, error
