"""Bad input (issue 2's list): every ligand line ends in the store, ok or failed with a reason.

Each case runs the real ``hpcfold prep`` pipeline (readers -> prepare -> HDF5 feature store).
"""

from __future__ import annotations

import gzip

import pytest

from hpcfold.chem.prepare import PrepOptions
from hpcfold.cli import main as cli_main
from hpcfold.commands.prep import run_prep
from hpcfold.errors import UserError
from hpcfold.store.features import FeatureStore
from hpcfold.types import Reason

OPTS = PrepOptions(ff_max_iterations=50)


def _prep(tmp_path, files: list, opts: PrepOptions = OPTS) -> FeatureStore:
    out = tmp_path / "lib.h5"
    counts = run_prep([str(f) for f in files], str(out), opts, None, progress=False)
    store = FeatureStore(str(out))
    assert counts["total"] == store.n_ligands == counts["ok"] + counts["failed"]
    return store


def _reasons(store: FeatureStore) -> dict[str, tuple[Reason, str]]:
    return {f.lig_id: (f.reason, f.message) for _, f in store.failures()}


def _smi(tmp_path, lines: list[str], name: str = "lib.smi"):
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n")
    return p


def test_unparsable_smiles(tmp_path):
    store = _prep(
        tmp_path, [_smi(tmp_path, ["C1CC ring", "C(C paren", "C(C)(C)(C)(C)C valence", "CCO ok"])]
    )
    got = _reasons(store)
    assert store.counts() == {"total": 4, "ok": 1, "failed": 3}
    assert {k: v[0] for k, v in got.items()} == {
        "ring": Reason.PARSE_ERROR, "paren": Reason.PARSE_ERROR, "valence": Reason.PARSE_ERROR
    }  # fmt: skip
    assert "valence" in got["valence"][1].lower()


def test_empty_and_non_utf8_lines(tmp_path):
    p = tmp_path / "lib.smi"
    p.write_bytes(b"CCO a\n\n   \n\t\nC\xe9C b\nCCN c\n\n")
    store = _prep(tmp_path, [p])
    assert store.counts() == {"total": 3, "ok": 2, "failed": 1}  # blank lines are not ligands
    assert _reasons(store)["b"][0] == Reason.ENCODING_ERROR
    assert store.sources([1]) == [f"{p}:5"]


def test_truncated_sdf_record(tmp_path, shared_data):
    rec = (shared_data / "vina-example" / "1iep_ligand.sdf").read_text()
    p = tmp_path / "lib.sdf.gz"
    with gzip.open(p, "wt") as fh:
        fh.write(rec + rec[: len(rec) // 2])
    store = _prep(tmp_path, [p])
    assert store.counts() == {"total": 2, "ok": 1, "failed": 1}
    [(idx, fail)] = store.failures()
    assert idx == 1 and fail.reason == Reason.TRUNCATED_RECORD
    assert store.ids([0, 1]) == ["STI", "STI#2"]


def test_zero_byte_file(tmp_path):
    empty = tmp_path / "empty.smi"
    empty.write_bytes(b"")
    store = _prep(tmp_path, [empty, _smi(tmp_path, ["CCO e"], "other.smi")])
    assert store.counts() == {"total": 1, "ok": 1, "failed": 0}
    (tmp_path / "lib.h5").unlink()
    only = tmp_path / "only"
    only.mkdir()
    store = _prep(only, [empty])
    assert store.counts() == {"total": 0, "ok": 0, "failed": 0}


def test_missing_file_is_fatal(tmp_path, capsys):
    good = _smi(tmp_path, ["CCO a"])
    with pytest.raises(UserError, match="not found"):
        run_prep([str(good), str(tmp_path / "missing.smi")], str(tmp_path / "x.h5"), OPTS)
    assert not (tmp_path / "x.h5").exists()
    rc = cli_main(["prep", str(tmp_path / "missing.smi"), "-o", str(tmp_path / "y.h5"), "-q"])
    assert rc == 2
    assert "ligand file not found" in capsys.readouterr().err
    with pytest.raises(UserError, match="output directory does not exist"):
        run_prep([str(good)], str(tmp_path / "no" / "dir" / "x.h5"), OPTS)
    with pytest.raises(UserError, match="not a writable file"):
        run_prep([str(good)], str(tmp_path), OPTS)


def test_radicals(tmp_path):
    store = _prep(tmp_path, [_smi(tmp_path, ["[CH3] methyl", "C[O] methoxy", "CC[CH2] propyl"])])
    assert {k: v[0] for k, v in _reasons(store).items()} == dict.fromkeys(
        ["methyl", "methoxy", "propyl"], Reason.RADICAL
    )


def test_unsupported_elements(tmp_path):
    lines = ["B(O)(O)c1ccccc1 boronic", "c1cc[se]c1 selenophene", "C[As](C)C arsine", "*CC dummy"]
    got = _reasons(_prep(tmp_path, [_smi(tmp_path, lines)]))
    assert {k: v[0] for k, v in got.items()} == dict.fromkeys(
        ["boronic", "selenophene", "arsine", "dummy"], Reason.UNSUPPORTED_ELEMENT
    )
    assert "element B" in got["boronic"][1]


def test_more_than_300_heavy_atoms(tmp_path):
    big = "C" * 301
    store = _prep(tmp_path, [_smi(tmp_path, [f"{big} big", "C" * 300 + "O ok301", "CCO small"])])
    got = _reasons(store)
    assert got["big"][0] == Reason.TOO_LARGE and "301 heavy atoms" in got["big"][1]
    assert got["ok301"][0] == Reason.TOO_LARGE  # 301 heavy atoms too
    assert store.counts()["ok"] == 1
    store.close()
    (tmp_path / "sub").mkdir()
    small = _prep(tmp_path / "sub", [_smi(tmp_path, ["CCCCCC hexane"], "h.smi")],
                  PrepOptions(max_heavy_atoms=5))  # fmt: skip
    assert _reasons(small)["hexane"][0] == Reason.TOO_LARGE


def test_disconnected_mixtures_keep_largest_fragment(tmp_path):
    lines = ["CCO.c1ccccc1CC(=O)O mix", "[Na+].[Cl-] salt_only", "O.O.CC(=O)Nc1ccc(O)cc1 hydrate"]
    store = _prep(tmp_path, [_smi(tmp_path, lines)])
    assert store.counts() == {"total": 3, "ok": 2, "failed": 1}
    ok = [i for i in range(3) if i not in {j for j, _ in store.failures()}]
    assert store.smiles(ok) == ["O=C(O)Cc1ccccc1", "CC(=O)Nc1ccc(O)cc1"]
    assert _reasons(store)["salt_only"][0] in (Reason.METAL_COMPLEX, Reason.UNSUPPORTED_ELEMENT)


def test_metal_complexes(tmp_path):
    lines = [
        "N.N.Cl[Pt]Cl cisplatin",
        "[Fe+2].c1cc[cH-]c1.c1cc[cH-]c1 ferrocene",
        "CC(=O)O[Zn]OC(C)=O zinc_acetate",
        "[Mg]1OC(=O)CC(=O)O1 mg_chelate",
    ]
    got = _reasons(_prep(tmp_path, [_smi(tmp_path, lines)]))
    assert {k: v[0] for k, v in got.items()} == dict.fromkeys(
        ["cisplatin", "ferrocene", "zinc_acetate", "mg_chelate"], Reason.METAL_COMPLEX
    )


def test_duplicate_ids(tmp_path):
    a = _smi(tmp_path, ["CCO dup", "CCN dup", "CCC other"], "a.smi")
    b = _smi(tmp_path, ["CCCl dup", "c1ccccc1"], "b.smi")
    store = _prep(tmp_path, [a, b])
    assert store.ids(range(5)) == ["dup", "dup#2", "other", "dup#3", "b:2"]
    assert store.smiles(range(5)) == ["CCO", "CCN", "CCC", "CCCl", "c1ccccc1"]


def test_every_line_accounted_for(tmp_path):
    lines = [
        "# a comment", "CCO ok1", "C1CC parse", "", "[CH3] radical", "B(O)O boron",
        "N.N.Cl[Pt]Cl metal", "CCO.O mixture", "c1ccccc1 ok1",
    ]  # fmt: skip
    p = _smi(tmp_path, lines)
    store = _prep(tmp_path, [p])
    n_ligand_lines = sum(1 for ln in lines if ln.strip() and not ln.startswith("#"))
    assert store.n_ligands == n_ligand_lines == 7
    srcs = store.sources(range(7))
    assert srcs == [f"{p}:{k}" for k in (2, 3, 5, 6, 7, 8, 9)]
    assert store.counts() == {"total": 7, "ok": 3, "failed": 4}
