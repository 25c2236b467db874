"""Streaming readers: SMILES, SDF, PDBQT (plain and gzip), ids, line numbers, encoding."""

from __future__ import annotations

import gzip
import shutil
import tracemalloc
import types

import pytest

from hpcfold.chem.readers import iter_records
from hpcfold.errors import UserError
from hpcfold.types import Reason


def test_smiles_ids_comments_blank_lines(tmp_path):
    p = tmp_path / "lib.smi"
    p.write_text("# header comment\nCCO ethanol\n\n   \nc1ccccc1\tbenzene extra cols\nCCN\n  # x\n")
    recs = list(iter_records(p))
    assert [(r.text, r.lig_id, r.index) for r in recs] == [
        ("CCO", "ethanol", 0),
        ("c1ccccc1", "benzene", 1),
        ("CCN", "lib:3", 2),  # generated: <stem>:<record number>
    ]
    assert [r.source for r in recs] == [f"{p}:2", f"{p}:5", f"{p}:6"]
    assert all(r.kind == "smiles" and r.error is None for r in recs)


def test_smiles_gz_and_other_suffixes(tmp_path):
    text = "CCO a\nCCC b\n"
    with gzip.open(tmp_path / "x.smi.gz", "wt") as fh:
        fh.write(text)
    (tmp_path / "y.ism").write_text(text)
    (tmp_path / "z.txt").write_text(text)
    for name in ("x.smi.gz", "y.ism", "z.txt"):
        assert [r.lig_id for r in iter_records(tmp_path / name)] == ["a", "b"]
    assert list(iter_records(tmp_path / "x.smi.gz"))[1].lig_id == "b"
    gen = [r.lig_id for r in iter_records(_write(tmp_path / "q.smi.gz", b"CCO\n", gz=True))]
    assert gen == ["q:1"]


def _write(path, data: bytes, gz: bool = False):
    if gz:
        with gzip.open(path, "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)
    return path


def test_non_utf8_line_is_an_encoding_failure(tmp_path):
    p = _write(tmp_path / "bad.smi", b"CCO a\nC\xff\xfeC b\nCCN c\n")
    recs = list(iter_records(p))
    assert [r.lig_id for r in recs] == ["a", "b", "c"]
    assert recs[1].error is not None and recs[1].error.reason == Reason.ENCODING_ERROR
    assert recs[1].error.source == f"{p}:2"
    assert recs[0].error is None and recs[2].error is None


def test_zero_byte_file_has_no_records(tmp_path):
    for name in ("empty.smi", "empty.sdf", "empty.pdbqt"):
        assert list(iter_records(_write(tmp_path / name, b""))) == []


def test_missing_unreadable_and_unknown_files(tmp_path):
    with pytest.raises(UserError, match="not found"):
        list(iter_records(tmp_path / "nope.smi"))
    with pytest.raises(UserError, match="unknown ligand file type"):
        list(iter_records(_write(tmp_path / "lib.csv", b"CCO,a\n")))
    with pytest.raises(UserError, match="cannot read"):
        list(iter_records(_write(tmp_path / "notgz.smi.gz", b"CCO a\n")))


SDF_REC = """{name}
  RDKit          3D

  3  2  0  0  0  0  0  0  0  0999 V2000
    0.0000    0.0000    0.0000 C   0  0
    1.5000    0.0000    0.0000 C   0  0
    2.0000    1.2000    0.3000 O   0  0
  1  2  1  0
  2  3  1  0
M  END
> <score>
1.0

$$$$
"""


def test_sdf_multi_record_gz_and_truncation(tmp_path):
    text = SDF_REC.format(name="one") + SDF_REC.format(name="") + SDF_REC.format(name="three")
    cut = SDF_REC.format(name="four")[:120]  # ends inside the atom block
    p = _write(tmp_path / "lib.sdf.gz", (text + cut).encode(), gz=True)
    recs = list(iter_records(p))
    assert [r.lig_id for r in recs] == ["one", "lib:2", "three", "four"]
    assert [r.index for r in recs] == [0, 1, 2, 3]
    assert recs[2].source == f"{p}:29"  # 14 lines per record
    assert all(r.error is None for r in recs[:3])
    assert recs[3].error.reason == Reason.TRUNCATED_RECORD
    assert "1.5000" in recs[0].text and recs[0].text.rstrip().endswith("$$$$")


def test_sdf_last_record_without_dollars_is_complete(tmp_path):
    text = SDF_REC.format(name="a") + SDF_REC.format(name="b").replace("$$$$\n", "")
    recs = list(iter_records(_write(tmp_path / "x.sdf", text.encode())))
    assert [r.lig_id for r in recs] == ["a", "b"] and recs[1].error is None


PDBQT_MODEL = """REMARK  Name = {name}
ROOT
ATOM      1  C   UNL     1       0.000   0.000   0.000  1.00  0.00     0.000 C
ATOM      2  O   UNL     1       1.400   0.000   0.000  1.00  0.00     0.000 OA
ENDROOT
TORSDOF 0
"""


def test_pdbqt_single_and_multi_model(tmp_path, shared_data):
    single = list(iter_records(shared_data / "vina-example" / "1iep_ligand.pdbqt"))
    assert len(single) == 1 and single[0].kind == "pdbqt" and "TORSDOF" in single[0].text
    out = list(iter_records(shared_data / "vina-example" / "1iep_ligand_vina_out.pdbqt"))
    assert len(out) == 4 and [r.index for r in out] == list(range(4))
    assert all("VINA RESULT" in r.text and "MODEL" not in r.text for r in out)
    # Open Babel / ZINC style: names in REMARK Name =, a last MODEL cut short
    text = "".join(
        f"MODEL {k + 1}\n{PDBQT_MODEL.format(name=n)}ENDMDL\n" for k, n in enumerate("ab")
    )
    text += "MODEL 3\n" + PDBQT_MODEL.format(name="c")[:150]
    recs = list(iter_records(_write(tmp_path / "z.pdbqt", text.encode())))
    assert [r.lig_id for r in recs] == ["a", "b", "c"]
    assert recs[0].error is None and recs[2].error.reason == Reason.TRUNCATED_RECORD


def test_streaming_reads_lazily(tmp_path):
    p = tmp_path / "big.smi"
    with open(p, "w") as fh:
        for k in range(60_000):
            fh.write(f"CCOc1ccccc1C(=O)N{k % 10} lig{k}\n")
    gen = iter_records(p)
    assert isinstance(gen, types.GeneratorType)
    tracemalloc.start()
    n = 0
    for _ in gen:
        n += 1
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert n == 60_000
    assert peak < 500_000  # the 2 MB file never sits in memory


def test_reader_copies_keep_working(tmp_path, shared_data):
    src = shared_data / "dude" / "comt" / "actives.smi"
    dst = tmp_path / "actives.smi"
    shutil.copy(src, dst)
    recs = list(iter_records(dst))
    assert len(recs) == sum(1 for ln in src.read_text().splitlines() if ln.strip())
    assert recs[0].lig_id == src.read_text().split()[1]


def test_line_longer_than_the_limit_is_too_large_in_bounded_memory(tmp_path, monkeypatch):
    from hpcfold.chem import readers

    monkeypatch.setattr(readers, "MAX_LINE_BYTES", 1000)
    p = tmp_path / "lib.smi"
    p.write_bytes(b"CCO a\n" + b"C" * 5000 + b" long\nCCN b\n" + b"C" * 3000)
    recs = list(iter_records(str(p)))
    assert [r.lig_id for r in recs] == ["a", "lib:2", "b", "lib:4"]
    assert [r.source for r in recs] == [f"{p}:{k}" for k in (1, 2, 3, 4)]
    for r, n in ((recs[1], 5006), (recs[3], 3000)):
        assert r.error.reason == Reason.TOO_LARGE and f"line of {n} bytes" in r.error.message
        assert r.text == ""
    assert recs[0].error is None and recs[2].text == "CCN"
