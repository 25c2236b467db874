"""Wire format round trips (numpy buffers and JSON, no pickle)."""

from __future__ import annotations

import numpy as np
import pytest

from hpcfold.mpi import messages as msg
from hpcfold.types import DockResult, Failure, Reason


def make_result(lig_id: str, m: int, n: int, seed: int) -> DockResult:
    rng = np.random.default_rng(seed)
    return DockResult(
        lig_id=lig_id,
        coords=rng.normal(size=(m, n, 3)).astype(np.float32),
        affinity=rng.normal(size=m).astype(np.float32),
        inter=rng.normal(size=m).astype(np.float32),
        intra=rng.normal(size=m).astype(np.float32),
        terms=rng.normal(size=(m, 5)).astype(np.float32),
        seconds=0.25,
    )


def test_assign_round_trip():
    buf = msg.encode_assign(7, 1, 2, np.array([4, 9, 11]))
    assert buf.dtype == np.int64
    cid, attempt, bucket, idx = msg.decode_assign(buf)
    assert (cid, attempt, bucket, idx.tolist()) == (7, 1, 2, [4, 9, 11])


def test_result_round_trip_is_bitwise():
    items = [
        make_result("a", 9, 21, 0),
        Failure("b", "x.smi:2", "CCO", Reason.NONFINITE_ENERGY, "nan énergie"),
        make_result("c", 1, 5, 1),
    ]
    info = {"chunk_id": 3, "rank": 2, "device": "cpu:1", "seconds": 1.5, "busy": 0.9}
    buf = msg.encode_result(items, info)
    assert buf.dtype == np.uint8
    got, ginfo, err = msg.decode_result(buf)
    assert err is None and ginfo == info
    assert isinstance(got[1], Failure) and got[1] == items[1]
    for a, b in ((items[0], got[0]), (items[2], got[2])):
        assert b.lig_id == a.lig_id and b.seconds == a.seconds
        for name in ("coords", "affinity", "inter", "intra", "terms"):
            x, y = getattr(a, name), getattr(b, name)
            assert x.shape == y.shape and x.tobytes() == y.tobytes()


def test_result_keeps_other_info_keys_and_types():
    info = {"chunk_id": 4, "attempt": 1, "rank": 3, "device": "gpu:0", "host": "n1",
            "t_start": 1.5, "t_done": 2.5, "busy_s": 0.5, "wall_s": 1.0, "busy": 0.5,
            "smiles": ["C"], "chunk_note": {"a": 1}, "seconds": 3}  # fmt: skip
    items = [make_result("only", 2, 3, 5)]
    got, ginfo, err = msg.decode_result(msg.encode_result(items, info))
    assert ginfo == info and err is None and got[0].lig_id == "only"
    bad = msg.encode_result(items, {"chunk_id": 1})
    with pytest.raises(ValueError, match="shorter"):
        msg.decode_result(bad[:-4])
    # a control character in an SDF title or an error text must not break the message
    odd = [
        make_result("a\x1fb", 1, 1, 0),
        Failure("c\x1f", "f.sdf:3", "C", Reason.PARSE_ERROR, "x"),
    ]
    got, ginfo, err = msg.decode_result(msg.encode_result(odd, {"host": "h\x1f"}, "boom\x1f"))
    assert [g.lig_id for g in got] == ["a\x1fb", "c\x1f"] and got[1] == odd[1]
    assert ginfo == {"host": "h\x1f"} and err == "boom\x1f"
    assert msg.decode_result(msg.encode_result(None, {}, ""))[2] == ""  # empty error: still one


def test_error_result_and_bad_input():
    items, info, err = msg.decode_result(msg.encode_result(None, {"chunk_id": 1}, "boom"))
    assert items == [] and err == "boom" and info == {"chunk_id": 1}
    with pytest.raises(ValueError, match="not an hpcfold"):
        msg.decode_result(np.zeros(16, np.uint8))
    with pytest.raises(TypeError):
        msg.encode_result([object()], {})


def test_json_round_trip():
    assert msg.decode_json(msg.encode_json({"a": [1, 2], "b": "é"})) == {"a": [1, 2], "b": "é"}


def test_result_header_and_decoded_results_are_plain_frozen_dock_results():
    items = [make_result("a", 2, 3, 0)]
    ok = msg.encode_result(items, {"chunk_id": 12, "rank": 1})
    assert msg.result_header(ok) == (12, False)
    for error in ("boom", ""):  # an empty error text still marks the chunk as raised
        assert msg.result_header(msg.encode_result(None, {"chunk_id": 5}, error)) == (5, True)
    with pytest.raises(ValueError, match="not an hpcfold"):
        msg.result_header(np.zeros(128, np.uint8))
    got = msg.decode_result(ok)[0][0]
    assert type(got) is DockResult and vars(got).keys() == vars(items[0]).keys()
    with pytest.raises(AttributeError):
        got.lig_id = "b"  # still frozen
    # a copy that is not contiguous or not uint8 decodes the same
    wide = np.zeros(2 * len(ok), np.uint8)
    wide[::2] = ok
    assert msg.decode_result(wide[::2])[0][0].lig_id == "a"
