"""``hpcfold screen`` command: clear errors (alone and under mpiexec), box resolution."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import numpy as np

from hpcfold import boxes, cli
from hpcfold.commands import screen
from hpcfold.config import load_screen_config

ROOT = pathlib.Path(__file__).resolve().parents[2]
MPIEXEC = pathlib.Path(sys.executable).with_name("mpiexec")


def config(tmp_path, shared_data, extra: str = "", ligands: str = "lig.smi") -> pathlib.Path:
    fabp4 = shared_data / "dude" / "fabp4"
    (tmp_path / "lig.smi").write_text("CCO ethanol\nc1ccccc1O phenol\n")
    path = tmp_path / "c.yaml"
    path.write_text(
        f"receptor: {fabp4 / 'receptor.pdbqt'}\nbox: {{vina_config: {fabp4 / 'box.txt'}}}\n"
        f"ligands: {ligands}\noutput: out.h5\n{extra}"
    )
    return path


def test_unknown_key_exits_2_naming_it(tmp_path, shared_data, capsys):
    cfg = config(tmp_path, shared_data, "search: {presett: fast}\n")
    assert cli.main(["screen", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "hpcfold screen: error:" in err and "unknown key 'search.presett'" in err


def test_missing_features_without_ligands(tmp_path, shared_data, capsys):
    cfg = config(tmp_path, shared_data, "features: nope.h5\n", ligands="[]")
    assert cli.main(["screen", str(cfg)]) == 2
    assert "nope.h5 does not exist and the config lists no ligands" in capsys.readouterr().err


def test_screen_creates_the_folders_of_its_stores(tmp_path, shared_data, capsys):
    """A fresh checkout has no output folder: the screen makes it (here it then stops at the
    missing ligand list, before any docking)."""
    cfg = config(tmp_path, shared_data, "features: new/lib.h5\n", ligands="[]")
    text = cfg.read_text().replace("output: out.h5", "output: results/out.h5")
    cfg.write_text(text)
    assert cli.main(["screen", str(cfg)]) == 2
    assert "does not exist and the config lists no ligands" in capsys.readouterr().err
    assert (tmp_path / "new").is_dir() and (tmp_path / "results").is_dir()


def test_missing_ligand_file(tmp_path, shared_data, capsys):
    cfg = config(tmp_path, shared_data, ligands="missing.smi")
    assert cli.main(["screen", str(cfg)]) == 2
    assert "missing.smi not found" in capsys.readouterr().err


def test_user_error_under_mpiexec_aborts_cleanly(tmp_path, shared_data):
    cfg = config(tmp_path, shared_data, "chunk_size: -4\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [str(MPIEXEC), "-n", "2", sys.executable, "-m", "hpcfold", "screen", str(cfg)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "hpcfold screen: error (rank 0):" in proc.stderr
    assert "chunk_size must be >= 1" in proc.stderr and "aborting all 2 ranks" in proc.stderr


def test_box_resolution(tmp_path, shared_data):
    fabp4 = shared_data / "dude" / "fabp4"
    cfg = load_screen_config(config(tmp_path, shared_data))
    assert screen._resolve_box(cfg) == boxes.read_vina_config(fabp4 / "box.txt")
    lig = fabp4 / "crystal_ligand.pdbqt"
    (tmp_path / "b.yaml").write_text(
        f"receptor: r.pdbqt\nbox: {{autobox_ligand: {lig}, autobox_add: 5}}\n"
        "ligands: x.smi\noutput: o.h5\n"
    )
    box = screen._resolve_box(load_screen_config(tmp_path / "b.yaml"))
    xyz = np.array([[float(line[30:38]), float(line[38:46]), float(line[46:54])]
                    for line in lig.read_text().splitlines()
                    if line.startswith(("ATOM", "HETATM"))])  # fmt: skip
    assert box == boxes.autobox(xyz, add=5.0)
    (tmp_path / "c.yaml").write_text(
        "receptor: r.pdbqt\nbox: {center: [1, 2, 3], size: [10, 11, 12]}\n"
        "ligands: x.smi\noutput: o.h5\n"
    )
    box = screen._resolve_box(load_screen_config(tmp_path / "c.yaml"))
    assert box.center == (1.0, 2.0, 3.0) and box.size == (10.0, 11.0, 12.0)


def test_large_box_is_warned_about(tmp_path):
    """Above 27000 A^3 rank 0 logs Vina's warning, with the config keys that help."""
    import logging

    seen = []
    handler = logging.Handler()
    handler.emit = lambda rec: seen.append(rec.getMessage())
    log = logging.getLogger("hpcfold")
    log.addHandler(handler)
    try:
        for edge in (30, 31):  # 27000 A^3: no warning; 29791 A^3: warning
            (tmp_path / "d.yaml").write_text(
                f"receptor: r.pdbqt\nbox: {{center: [0, 0, 0], size: [30, 30, {edge}]}}\n"
                "ligands: x.smi\noutput: o.h5\n"
            )
            screen._resolve_box(load_screen_config(tmp_path / "d.yaml"))
    finally:
        log.removeHandler(handler)
    assert len(seen) == 1, seen
    assert "27900 A^3" in seen[0] and "search: {preset: thorough}" in seen[0]


def test_resume_with_other_search_settings_is_refused(tmp_path, shared_data):
    from hpcfold.chem.prepare import PrepOptions
    from hpcfold.commands.prep import run_prep
    from hpcfold.store.results import ResultsWriter

    cfg_path = config(tmp_path, shared_data, "features: lib.h5\nsearch: {preset: fast}\n")
    run_prep([str(tmp_path / "lig.smi")], str(tmp_path / "lib.h5"), PrepOptions(), None, False)
    cfg = load_screen_config(cfg_path)
    box = screen._resolve_box(cfg)
    old = {"box": {"center": list(box.center), "size": list(box.size)},
           "search": dict(cfg.search.config_dict(), seed=5), "n_ligands": 2}  # fmt: skip
    ResultsWriter(str(tmp_path / "out.h5"), old).close()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "hpcfold", "screen", str(cfg_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "out.h5 holds results for search" in proc.stderr and "'seed': 5" in proc.stderr
