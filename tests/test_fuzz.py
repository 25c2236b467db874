"""The fuzz corpus (``tests/fuzz/``): every bad input ends in a clear one-line error (exit
status 2) or, for a ligand, a failure recorded with its reason; never a traceback, a hang or a
huge allocation. Every case runs the real CLI entry point in-process (``hpcfold.cli.main``).

Corpus conventions: a ligand's id (SMILES id column, SDF title, PDBQT ``REMARK Name``) is
``EXPECTED__what`` with EXPECTED a ``Reason`` name or ``OK``; receptors, configs and stores are
one bad file each (``configs/valid.yaml`` and ``receptors/ok.pdbqt`` are the valid references).
Cases too large to keep as files (a 1 MB SMILES line, a 100 kB config value) are written by the
``corpus`` fixture.
"""

from __future__ import annotations

import pathlib
import shutil
import sys
import time

import h5py
import numpy as np
import pytest

from hpcfold import cli
from hpcfold.types import Reason

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "store"))
from store_factory import make_result  # noqa: E402

FUZZ = pathlib.Path(__file__).resolve().parent / "fuzz"
HANG_S = 20.0  # per case: a guard against hangs only, not a speed test
BOX = ["--center", "1", "0.5", "0", "--size", "20", "20", "20"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> pathlib.Path:
    """A copy of tests/fuzz (commands may write beside their inputs) plus generated cases."""
    d = tmp_path_factory.mktemp("fuzz") / "fuzz"
    shutil.copytree(FUZZ, d)
    base = (d / "configs" / "valid.yaml").read_text()
    (d / "configs" / "huge_value.yaml").write_text(base + "chunk_size: " + "9" * 100_000 + "x\n")
    (d / "configs" / "huge_key.yaml").write_text(base + "k" * 100_000 + ": 1\n")
    (d / "smiles" / "huge.smi").write_text(
        "CCO OK__small\n" + "C" * 1_000_000 + " TOO_LARGE__one_megabyte\n"
        + "C1=CC=CC=C1" * 50_000 + " TOO_LARGE__aromatic_half_megabyte\n"
    )  # fmt: skip
    return d


def run(capsys, argv: list[str]) -> tuple[int, str, str]:
    t0 = time.perf_counter()
    rc = cli.main(argv)
    out, err = capsys.readouterr()
    assert time.perf_counter() - t0 < HANG_S, f"hpcfold {' '.join(argv)} took too long"
    assert "Traceback" not in err, err
    return rc, out, err


def one_line_error(capsys, argv: list[str]) -> str:
    """Run ``argv``; assert exit status 2 and one clear error line (warnings aside)."""
    rc, _, err = run(capsys, argv)
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("warning:")]
    assert rc == 2 and len(lines) == 1, (rc, err[:2000])
    assert lines[0].startswith(f"hpcfold {argv[0]}: error: ")
    assert len(lines[0]) <= cli.MAX_MESSAGE + 40
    return lines[0]


# ------------------------------------------------------------------------------ configs
CONFIG_MESSAGES = {
    "alias_bomb": "alias bomb", "alias_bomb_in_ligands": "alias bomb",
    "recursive_alias": "recursive alias", "python_tag": "could not determine a constructor",
    "nan_energy_range": "search.energy_range' must be a finite number, got nan",
    "negative_energy_range": "search.energy_range must be >= 0, got -3",
    "nan_min_rmsd": "search.min_rmsd' must be a finite number",
    "nan_commit_interval": "'commit_interval' must be a finite number",
    "inf_commit_interval": "'commit_interval' must be a finite number, got inf",
    "nan_progress_interval": "'progress_interval' must be a finite number",
    "zero_progress_interval": "progress_interval must be > 0",
    "nan_box_center": "'box.center' must be a finite number", "inf_box_size": "'box.size'",
    "negative_box_size": "edge lengths must be positive", "zero_box_size": "must be positive",
    "two_numbers_box": "three numbers each", "huge_box": "GiB for its grid maps",
    "unknown_key": "unknown key 'search.exhaustivness'", "unknown_preset": "search.preset",
    "unknown_scoring": "search.scoring", "string_chunk_size": "'chunk_size' must be an integer",
    "zero_chunk_size": "chunk_size must be >= 1", "bool_as_number": "must be an integer",
    "missing_receptor": "nowhere.pdbqt not found", "empty_receptor": "no atoms in the receptor",
    "nan_receptor": "nan_coordinate.pdbqt:3: non-finite coordinate",
    "receptor_is_a_folder": "is a folder", "mol2_receptor": "unsupported receptor format",
    "missing_box": "missing required key 'box'", "two_boxes": "give exactly one of",
    "missing_vina_box": "nowhere.txt", "nan_vina_box": "must be finite",
    "nan_autobox_ligand": "nan_coordinate.pdbqt:3: non-finite coordinate",
    "no_ligands": "give ligands", "not_a_mapping": "must be a mapping",
    "invalid_yaml": "not valid YAML", "tab_indent": "not valid YAML",
    "empty_file": "must be a mapping", "not_utf8": "not UTF-8",
    "gpu_fraction_nan": "gpu_memory_fraction", "negative_threads": "cpu_threads",
    "prep_negative": "max_heavy_atoms", "huge_value": "100001 characters",
    "huge_key": "not valid YAML",
}  # fmt: skip


def test_every_config_case_has_an_expected_message():
    names = {p.stem for p in (FUZZ / "configs").glob("*.yaml")} - {"valid"}
    assert names | {"huge_value", "huge_key"} == set(CONFIG_MESSAGES)


@pytest.mark.parametrize("name", sorted(CONFIG_MESSAGES))
def test_bad_config_is_refused_before_prep(corpus, capsys, name):
    out = corpus / "configs" / "out"
    try:
        line = one_line_error(capsys, ["screen", str(corpus / "configs" / f"{name}.yaml")])
        assert CONFIG_MESSAGES[name] in line
        assert not out.exists()  # nothing prepared, nothing written
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_valid_config_passes_the_same_checks(corpus):
    from hpcfold.config import check_inputs, load_screen_config

    check_inputs(load_screen_config(corpus / "configs" / "valid.yaml"))


# ------------------------------------------------------------------------------ receptors
RECEPTORS = sorted(p.name for p in (FUZZ / "receptors").iterdir() if p.name != "ok.pdbqt")


@pytest.mark.parametrize("name", RECEPTORS)
def test_bad_receptor_is_one_line_naming_the_file(corpus, capsys, name):
    rec = corpus / "receptors" / name
    line = one_line_error(
        capsys, ["score", "--receptor", str(rec), "--ligand", str(corpus / "pdbqt" / "pose.pdbqt"),
                 *BOX],
    )  # fmt: skip
    assert name in line


def test_dock_refuses_a_nan_receptor_before_docking(corpus, capsys):
    line = one_line_error(capsys, [
        "dock", "--receptor", str(corpus / "receptors" / "nan_coordinate.pdbqt"),
        "--ligand", str(corpus / "pdbqt" / "pose.pdbqt"), *BOX, "--out", str(corpus / "o.pdbqt"),
    ])  # fmt: skip
    assert "nan_coordinate.pdbqt:3: non-finite coordinate" in line
    assert not (corpus / "o.pdbqt").exists()


# ------------------------------------------------------------------------------ options
OPTIONS = [
    (["--energy_range", "nan"], "--energy-range"), (["--energy_range", "-3"], "--energy-range"),
    (["--energy-range", "inf"], "--energy-range"), (["--min_rmsd", "nan"], "--min-rmsd"),
    (["--center_x", "nan"], "--center_x"), (["--size_y", "inf"], "--size_y"),
    (["--size_z", "0"], "box size must be positive"), (["--size_x", "-5"], "positive"),
    (["--size_x", "1000", "--size_y", "1000", "--size_z", "1000"], "GiB for its grid maps"),
    (["--num_modes", "0"], "--num-modes"), (["--exhaustiveness", "0"], "--exhaustiveness"),
    (["--autobox-add", "nan"], "--autobox-add"), (["--preset", "turbo"], "unknown preset"),
]  # fmt: skip


@pytest.mark.parametrize("extra,message", OPTIONS)
def test_bad_dock_option_is_refused_up_front(corpus, capsys, extra, message):
    argv = ["dock", "--receptor", str(corpus / "receptors" / "ok.pdbqt"),
            "--ligand", str(corpus / "pdbqt" / "pose.pdbqt"), *BOX, *extra,
            "--out", str(corpus / "o.pdbqt")]  # fmt: skip
    assert message in one_line_error(capsys, argv)
    assert not (corpus / "o.pdbqt").exists()


@pytest.mark.parametrize(
    "extra,message",
    [(["--center", "nan", "0", "0", "--size", "20", "20", "20"], "--center"),
     (["--center", "200", "0", "0", "--size", "20", "20", "20"], "outside the grid box"),
     ([*BOX, "--weight_gauss1", "nan"], "--weight_gauss1"),
     ([*BOX, "--local_only", "--size", "900", "900", "900"], "GiB for its grid maps")],
)  # fmt: skip
def test_bad_score_option_is_refused_up_front(corpus, capsys, extra, message):
    argv = ["score", "--receptor", str(corpus / "receptors" / "ok.pdbqt"),
            "--ligand", str(corpus / "pdbqt" / "pose.pdbqt"), *extra]  # fmt: skip
    assert message in one_line_error(capsys, argv)


# ------------------------------------------------------------------------------ ligands
@pytest.mark.parametrize("name", ["smiles/bad.smi", "smiles/huge.smi", "sdf/bad.sdf",
                                  "pdbqt/bad.pdbqt"])  # fmt: skip
def test_every_bad_ligand_is_a_recorded_failure_with_its_reason(corpus, capsys, name):
    from hpcfold.chem.readers import iter_records
    from hpcfold.store.features import FeatureStore

    path = corpus / name
    out = corpus / (path.stem + path.suffix.replace(".", "_") + ".h5")
    rc, stdout, err = run(capsys, ["prep", str(path), "-o", str(out), "-q"])
    ids = [r.lig_id for r in iter_records(str(path))]
    assert rc == 0 and f"{len(ids)} ligands:" in stdout, err
    with FeatureStore(str(out)) as store:
        assert store.ids(np.arange(store.n_ligands)) == ids  # every record, in order
        failed = {f.lig_id: f for _, f in store.failures()}
    for lig_id in ids:
        want = lig_id.split("__")[0] if "__" in lig_id else "OK"
        got = failed[lig_id].reason.name if lig_id in failed else "OK"
        assert got == want, (lig_id, failed.get(lig_id))
        if lig_id in failed:
            assert failed[lig_id].message and "\n" not in failed[lig_id].message
            assert failed[lig_id].reason != Reason.INTERNAL_ERROR


# ------------------------------------------------------------------------------ stores
@pytest.fixture(scope="module")
def stores(corpus) -> dict[str, pathlib.Path]:
    """A real results store (numpy-made results, no docking) and damaged copies of it."""
    from hpcfold.store.results import ResultsWriter

    d = corpus / "stores"
    good = d / "results.h5"
    w = ResultsWriter(str(good), {"n_ligands": 10, "receptor_sha256": "abc"}, min_compact_rows=0)
    w.append(np.arange(10), [make_result(i) for i in range(10)], {"chunk_id": 0, "rank": 1})
    w.close()
    data = good.read_bytes()
    out = {p.name: p for p in d.iterdir() if p.name != "results.h5"}
    for frac in (0.1, 0.5, 0.99):
        cut = d / f"truncated_{int(100 * frac)}.h5"
        cut.write_bytes(data[: int(len(data) * frac)])
        out[cut.name] = cut
    with h5py.File(d / "kind_only.h5", "w") as f:
        f.attrs["kind"] = "hpcfold-results"  # the right kind, nothing inside
    with h5py.File(d / "no_kind.h5", "w") as f:
        f["x"] = np.arange(3)
    out["kind_only.h5"], out["no_kind.h5"] = d / "kind_only.h5", d / "no_kind.h5"
    out["a_folder.h5"] = d / "a_folder.h5"
    out["a_folder.h5"].mkdir()
    out["missing.h5"] = d / "missing.h5"
    return {"good": good, **out}


BAD_STORES = ["not_hdf5.h5", "zero_bytes.h5", "html.h5", "truncated_10.h5", "truncated_50.h5",
              "truncated_99.h5", "kind_only.h5", "no_kind.h5", "a_folder.h5", "missing.h5"]  # fmt: skip


def test_store_corpus_files_exist():
    assert {p.name for p in (FUZZ / "stores").iterdir()} == {"not_hdf5.h5", "zero_bytes.h5",
                                                             "html.h5"}  # fmt: skip


@pytest.mark.parametrize("name", BAD_STORES)
@pytest.mark.parametrize("command", ["inspect", "export-csv", "export-sdf", "report"])
def test_bad_store_is_one_line(stores, capsys, name, command, tmp_path):
    path = str(stores[name])
    argv = {
        "inspect": ["inspect", path], "export-csv": ["export", path, "-o", str(tmp_path / "h.csv")],
        "export-sdf": ["export", path, "-o", str(tmp_path / "h.sdf")],
        "report": ["report", path, "-o", str(tmp_path / "rep")],
    }[command]  # fmt: skip
    line = one_line_error(capsys, argv)
    assert name in line
    assert not any(tmp_path.iterdir())  # nothing written


def test_unwritable_outputs_are_one_line(stores, capsys, tmp_path):
    good, a_file = str(stores["good"]), tmp_path / "a_file"
    a_file.write_text("x")
    assert "is a file, not a folder" in one_line_error(
        capsys, ["export", good, "-o", str(a_file / "h.csv")])  # fmt: skip
    assert "is a folder, not a file" in one_line_error(
        capsys, ["export", good, "-o", str(tmp_path)]
    )
    assert "exists and is not a folder" in one_line_error(
        capsys, ["report", good, "-o", str(a_file)])  # fmt: skip
    assert "is a file, not a folder" in one_line_error(
        capsys, ["report", good, "-o", str(a_file / "sub")])  # fmt: skip
    rc, out, _ = run(capsys, ["export", good, "-o", str(tmp_path / "new" / "sub" / "h.csv")])
    assert rc == 0 and "wrote 8 ligands" in out  # valid: missing folders are created
    rc, _, _ = run(capsys, ["inspect", good])
    assert rc == 0


@pytest.mark.parametrize("lines,warning", [([], "the library is empty"),
                                           (["C1CC bad1", "[Xe] bad2"], "every one of the 2")])  # fmt: skip
def test_screen_of_an_empty_or_all_failed_library_warns_and_exits_1(corpus, capsys, tmp_path,
                                                                    lines, warning):  # fmt: skip
    (tmp_path / "lib.smi").write_text("".join(f"{ln}\n" for ln in lines))
    (tmp_path / "c.yaml").write_text(
        f"receptor: {corpus / 'receptors' / 'ok.pdbqt'}\n"
        "box: {center: [1.0, 0.5, 0.0], size: [10, 10, 10]}\nligands: lib.smi\n"
        "output: out/results.h5\nsearch: {preset: fast}\ndevice: {mode: cpu}\n"
    )
    rc, _, err = run(capsys, ["screen", str(tmp_path / "c.yaml")])
    assert rc == 1 and f"warning: {warning}" in err
    assert f"{len(lines)} ligands" in err  # every ligand is in the results store, failed
