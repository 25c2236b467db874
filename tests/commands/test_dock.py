"""``hpcfold dock`` end to end (in-process CLI): PDBQT and SDF outputs, input kinds, errors."""

from __future__ import annotations

import pytest

from hpcfold import cli
from hpcfold.chem.pdbqt import split_models

FAST = ["--preset", "fast", "--exhaustiveness", "1", "--n-steps", "4", "--num-modes", "3"]


@pytest.fixture(scope="module")
def inputs(shared_data, tmp_path_factory):
    d = shared_data / "redock42" / "1hnn"
    tmp = tmp_path_factory.mktemp("dock_cli")
    smi = tmp / "two.smi"
    smi.write_text("CC(=O)Nc1ccc(O)cc1 paracetamol\nOC(=O)c1ccccc1 benzoic\n")
    cache = str(tmp_path_factory.getbasetemp() / "hpcfold-cache")
    return d, tmp, smi, cache


def atom_keys(text: str) -> list[str]:
    """Atom name + AutoDock type per ATOM line (order check without coordinates)."""
    return [ln[12:16] + ln[77:79] for ln in text.splitlines() if ln.startswith(("ATOM", "HETATM"))]


def test_dock_pdbqt_output(inputs, capsys, monkeypatch):
    from hpcfold.dock import engine

    seen, dock_ligands = [], engine.dock_ligands

    def spy(ctx, records):
        seen.append(ctx.options.min_rmsd)
        return dock_ligands(ctx, records)

    monkeypatch.setattr(engine, "dock_ligands", spy)
    d, tmp, smi, cache = inputs
    out = tmp / "out.pdbqt"
    lig = d / "ligand_xray.pdbqt"
    rc = cli.main(
        ["dock", "--receptor", str(d / "receptor.pdbqt"), "--ligand", str(lig), str(smi),
         "--config", str(d / "box.txt"), "--out", str(out), "--cache-dir", cache, *FAST,
         "--min_rmsd", "2.5", "--cpu", "1", "--verbosity", "1"]  # Vina's spellings
    )  # fmt: skip
    assert rc == 0, capsys.readouterr()
    text = out.read_text()
    models = split_models(text)
    assert 3 <= len(models) <= 9  # three ligands, 1..3 modes each
    results = [ln for ln in text.splitlines() if ln.startswith("REMARK VINA RESULT:")]
    assert len(results) == len(models)
    first = [float(v) for v in results[0].split(":")[1].split()]
    assert first[0] < -2.5 and first[1:] == [0.0, 0.0]  # an 8-chain x 4-step search
    assert atom_keys(models[0]) == atom_keys(lig.read_text())  # input atom order kept
    captured = capsys.readouterr()
    assert "warning: ignored --verbosity (hpcfold prints its own progress)" in captured.err
    assert "progress: 3/3 ligands (100.0%)" in captured.err  # plain lines: not a terminal
    stdout = captured.out
    assert "wrote 3/3 docked ligands" in stdout
    assert seen == [2.5] * 3  # --min_rmsd reached the merge's options (one chunk per ligand)
    # Vina's table of modes, one per ligand, its rows matching the REMARK VINA RESULT lines
    assert stdout.count("mode |   affinity | dist from best mode") == 3
    rows = [ln.split() for ln in stdout.splitlines() if ln[:4].strip().isdigit()]
    assert [float(r[1]) for r in rows] == [float(ln.split()[3]) for ln in results]


def test_dock_sdf_output(inputs, capsys):
    """Vina's batch mode (--batch FILES --dir D): the SMILES file's poses go to D/two_out.sdf."""
    from rdkit import Chem

    d, tmp, smi, cache = inputs
    out = tmp / "batch" / "two_out.sdf"
    rc = cli.main(
        ["dock", "--receptor", str(d / "receptor.pdbqt"), "--batch", str(smi),
         "--dir", str(tmp / "batch"), "--config", str(d / "box.txt"), "--cache-dir", cache,
         "--seed", "3", *FAST]
    )  # fmt: skip
    assert rc == 0, capsys.readouterr()
    assert "wrote 2/2 docked ligands to" in capsys.readouterr().out
    mols = [m for m in Chem.SDMolSupplier(str(out)) if m is not None]
    names = {m.GetProp("_Name") for m in mols}
    assert names == {"paracetamol", "benzoic"}
    affinities = [float(m.GetProp("hpcfold_affinity")) for m in mols]
    assert all(abs(a) < 100 for a in affinities) and min(affinities) < 0  # a 4x4 search only
    from hpcfold.report.writers import SDF_TAGS

    for m in mols:  # the tag set export writes too (tests/commands/test_export.py)
        assert tuple(m.GetPropNames()) == SDF_TAGS
        assert m.GetProp("minimizedAffinity") == m.GetProp("hpcfold_affinity")


def test_box_sources(inputs):
    import argparse

    import numpy as np

    from hpcfold.commands.vina_options import resolve_box
    from hpcfold.errors import UserError

    d = inputs[0]
    lig = d / "ligand_xray.pdbqt"
    ns = dict(config=None, center=None, size=None, autobox_ligand=None, autobox_add=4.0)
    box = resolve_box(argparse.Namespace(**{**ns, "autobox_ligand": str(lig)}))
    xyz = np.array([[float(ln[30:38]), float(ln[38:46]), float(ln[46:54])]
                    for ln in lig.read_text().splitlines() if ln.startswith("ATOM")])  # fmt: skip
    np.testing.assert_allclose(box.size, xyz.max(0) - xyz.min(0) + 8.0, atol=1e-6)
    cfg = resolve_box(argparse.Namespace(**{**ns, "config": str(d / "box.txt"),
                                            "size": [10.0, 12.0, 14.0]}))  # fmt: skip
    assert cfg.size == (10.0, 12.0, 14.0) and cfg.center[0] == pytest.approx(28.946)
    with pytest.raises(UserError):
        resolve_box(argparse.Namespace(**{**ns, "autobox_ligand": str(lig), "center": [0, 0, 0]}))


def test_dock_user_errors(inputs, capsys):
    d, tmp, smi, cache = inputs
    base = ["dock", "--receptor", str(d / "receptor.pdbqt"), "--ligand", str(smi)]
    assert cli.main([*base, "--config", str(d / "box.txt"), "--out", str(tmp / "x.mol2")]) == 2
    assert cli.main([*base, "--out", str(tmp / "x.pdbqt")]) == 2  # no box
    bad = [*base, "--config", str(d / "box.txt"), "--out", str(tmp / "x.pdbqt")]
    assert cli.main([*bad, "--preset", "turbo"]) == 2
    assert cli.main([*bad, "--exhaustiveness", "0"]) == 2
    err = capsys.readouterr().err
    assert "--out must end with" in err and "give the box" in err and "unknown preset" in err
    # a box above 27000 A^3 is warned about (as Vina does) before anything else runs
    big = [*base[:3], "--ligand", str(tmp / "missing.smi"), "--center", "0", "0", "0",
           "--size", "31", "31", "31", "--out", str(tmp / "x.pdbqt")]  # fmt: skip
    assert cli.main(big) == 2
    err = capsys.readouterr().err
    assert "warning: the search box is 29791 A^3" in err and "--preset thorough" in err
    assert "ligand file not found" in err
    # an output that cannot be written is an error before the docking, not after it
    nowhere = str(tmp / "missing-folder" / "x.pdbqt")
    assert cli.main([*base, "--config", str(d / "box.txt"), "--out", nowhere]) == 2
    assert "not a writable folder" in capsys.readouterr().err


def _parse(argv):
    import argparse

    from hpcfold.commands import dock

    p = argparse.ArgumentParser()
    dock.add_arguments(p)
    return p.parse_args(argv)


def test_vina_config_sets_options_and_the_command_line_wins(inputs, capsys):
    """Vina users keep receptor, ligand, out and search options in the config file; hpcfold dock
    reads them (the command line wins, as in Vina) and warns about the ones it ignores."""
    from hpcfold.commands.dock import apply_config
    from hpcfold.commands.vina_options import resolve_box

    d, tmp, smi, cache = inputs
    out = tmp / "cfg.pdbqt"
    cfg = tmp / "vina.conf"
    cfg.write_text(
        f"receptor = {d / 'receptor.pdbqt'}\nligand = {d / 'ligand_xray.pdbqt'}\nout = {out}\n"
        f"{(d / 'box.txt').read_text()}\nnum_modes = 5\nexhaustiveness = 1\ncpu = 2\nseed = 7\n"
    )
    args = _parse(["--config", str(cfg), "--num_modes", "2", "--size_x", "20"])
    box_keys = apply_config(args)
    assert (args.exhaustiveness, args.num_modes, args.seed) == (1, 2, 7)
    assert (args.energy_range, args.scoring, args.ligand) == (
        3.0,
        "vina",
        [str(d / "ligand_xray.pdbqt")],
    )
    assert args.cpu == 2 and "ignored" not in capsys.readouterr().err  # Vina's cpu: workers
    box = resolve_box(args, box_keys)
    assert box.size == (20.0, 30.0, 30.0)  # --size_x overrides one axis
    rc = cli.main(["dock", "--config", str(cfg), "--num_modes", "2", "--preset", "fast",
                   "--n-steps", "4", "--cache-dir", cache])  # fmt: skip
    assert rc == 0, capsys.readouterr()
    assert 1 <= len(split_models(out.read_text())) <= 2


def test_vina_spelling_of_the_box_and_config_errors(inputs, capsys):
    from hpcfold.commands.dock import apply_config
    from hpcfold.commands.vina_options import resolve_box
    from hpcfold.errors import UserError

    d, tmp, smi, cache = inputs
    argv = ["--receptor", "r", "--ligand", "l", "--out", "o.pdbqt", "--center_x", "1",
            "--center_y", "2", "--center_z", "3", "--size_x", "4", "--size_y", "5",
            "--size_z", "6"]  # fmt: skip
    args = _parse(argv)
    box = resolve_box(args, apply_config(args))
    assert box.center == (1.0, 2.0, 3.0) and box.size == (4.0, 5.0, 6.0)
    with pytest.raises(UserError, match="missing size_z"):
        resolve_box(_parse(argv[:-2]), {})
    typo = tmp / "typo.conf"
    typo.write_text(f"{(d / 'box.txt').read_text()}\nexhaustivness = 32\n")
    with pytest.raises(UserError, match="does not support exhaustivness"):
        apply_config(_parse(["--config", str(typo)]))
    for lig, out in (("a/x.pdbqt", "a/x_out.pdbqt"), ("b.smi", "b_out.sdf")):  # Vina's name
        args = _parse(["--receptor", "r", "--ligand", lig, *argv[6:]])
        apply_config(args)
        assert args.out == out
    batch = ["--receptor", "r", "--batch", "a.pdbqt", *argv[6:]]
    for extra, why in (([], "needs --dir"), (["--dir", "d", "--out", "o.sdf"], "not with")):
        with pytest.raises(UserError, match=why):
            apply_config(_parse([*batch, *extra]))
    with pytest.raises(UserError, match="output folder of --batch"):
        apply_config(_parse([*argv, "--dir", "d"]))
    clash = ["dock", *batch[:4], "x/a.pdbqt", "--dir", str(tmp), *argv[6:]]
    assert cli.main(clash) == 2 and "share an output" in capsys.readouterr().err
    with pytest.raises(UserError, match="give --out"):
        apply_config(_parse(["--receptor", "r", "--ligand", "a.sdf", "b.sdf", *argv[6:]]))
    with pytest.raises(UserError, match="give --receptor, --ligand, --out"):
        apply_config(_parse(["--center", "0", "0", "0", "--size", "9", "9", "9"]))
    typo.write_text("max_evals = 100\nflex = x.pdbqt\n")
    with pytest.raises(UserError, match="does not support flex"):
        apply_config(_parse(["--config", str(typo)]))
    conf = tmp / "modes.conf"
    conf.write_text(f"{(d / 'box.txt').read_text()}\nmin_rmsd = 2.0\ncpu = 8\nspacing = 0.5\n")
    args = _parse([*argv[:6], "--config", str(conf)])
    apply_config(args)
    err = capsys.readouterr().err
    assert args.min_rmsd == 2.0 and args.cpu == 8 and "ignored spacing" in err
    assert "spacing: hpcfold's grid maps are always Vina's default 0.375 A" in err
    with pytest.raises(UserError, match="--min-rmsd must be >= 0"):
        apply_config(_parse([*argv[:6], "--config", str(conf), "--min_rmsd", "-1"]))
    twice = tmp / "twice.conf"
    twice.write_text("seed = 1\nseed = 2\n")
    with pytest.raises(UserError, match="seed is given twice"):
        apply_config(_parse(["--config", str(twice)]))


def _three(tmp):
    smi = tmp / "three.smi"
    smi.write_text("CC(=O)Nc1ccc(O)cc1 paracetamol\nOC(=O)c1ccccc1 benzoic\nOc1ccccc1 phenol\n")
    return smi


def test_poses_are_the_same_for_any_cpu_count(inputs, capsys):
    """Vina's --cpu: worker processes, one core each; the poses do not depend on their number
    (nor on which worker docks which ligand)."""
    d, tmp, _, cache = inputs
    smi = _three(tmp)
    texts = []
    for cpu in ("1", "2"):
        out = tmp / f"cpu{cpu}.pdbqt"
        rc = cli.main(["dock", "--receptor", str(d / "receptor.pdbqt"), "--ligand", str(smi),
                       "--config", str(d / "box.txt"), "--out", str(out), "--cache-dir", cache,
                       *FAST, "--cpu", cpu])  # fmt: skip
        assert rc == 0, capsys.readouterr()
        texts.append(out.read_text())
    assert texts[0] == texts[1] and texts[0].count("MODEL") >= 3
    assert "progress: 3/3 ligands" in capsys.readouterr().err


def test_a_dying_worker_fails_its_ligand_only(inputs, capsys, monkeypatch):
    """A worker killed mid-run (here by the test hook, as the OOM killer would) fails the ligand
    it had, with the reason; the other worker docks the rest; the exit status is 1."""
    d, tmp, _, cache = inputs
    monkeypatch.setenv("HPCFOLD_TEST_DOCK_WORKER_DIE", "1")
    out = tmp / "dies.sdf"
    rc = cli.main(["dock", "--receptor", str(d / "receptor.pdbqt"), "--ligand", str(_three(tmp)),
                   "--config", str(d / "box.txt"), "--out", str(out), "--cache-dir", cache,
                   *FAST, "--cpu", "2"])  # fmt: skip
    captured = capsys.readouterr()
    assert rc == 1
    assert "wrote 2/3 docked ligands" in captured.out
    assert "DOCK_ERROR: docking worker process" in captured.err
    assert "exited with status -9" in captured.err and "dies on ligand 1" in captured.err
    assert out.read_text().count("$$$$") >= 2


def test_exhaustiveness_8_is_the_preset_bit_for_bit(inputs, capsys):
    """Vina's exhaustiveness: 8 (Vina's default) is the preset's own search; E scales its chains
    by E/8."""
    from hpcfold.dock import presets

    def params(**kw):
        return presets.SearchOptions(**kw).params

    for name in presets.PRESETS:
        assert params(preset=name, exhaustiveness=8) == presets.PRESETS[name] == params(preset=name)
    chains = {e: params(preset="fast", exhaustiveness=e).n_chains for e in (1, 3, 4, 16)}
    assert chains == {1: 8, 3: 24, 4: 32, 16: 128}
    assert params(preset="thorough", exhaustiveness=1).n_chains == 32
    assert params(preset="fast", exhaustiveness=1).n_steps == presets.PRESETS["fast"].n_steps
    d, tmp, smi, cache = inputs
    texts = []
    for extra in ([], ["--exhaustiveness", "8"]):
        out = tmp / f"ex{len(extra)}.pdbqt"
        rc = cli.main(["dock", "--receptor", str(d / "receptor.pdbqt"), "--ligand",
                       str(d / "ligand_xray.pdbqt"), "--config", str(d / "box.txt"), "--out",
                       str(out), "--cache-dir", cache, "--preset", "fast", "--num-modes", "3",
                       *extra])  # fmt: skip
        assert rc == 0, capsys.readouterr()
        texts.append(out.read_text())
    assert texts[0] == texts[1]


def test_score_only_and_local_only_run_hpcfold_score(inputs, capsys):
    """Vina's dock --score_only / --local_only run no search: they print hpcfold score's lines,
    also when the config file asks for it."""
    d, tmp, _, cache = inputs
    rec, lig, box = str(d / "receptor.pdbqt"), str(d / "ligand_xray.pdbqt"), str(d / "box.txt")
    assert cli.main(["score", "--receptor", rec, "--ligand", lig, "--config", box]) == 0
    expected = capsys.readouterr().out
    assert "-" in expected and lig in expected
    assert cli.main(["dock", "--receptor", rec, "--ligand", lig, "--config", box,
                     "--score_only"]) == 0  # fmt: skip
    assert capsys.readouterr().out == expected
    conf = tmp / "score_only.conf"
    conf.write_text(f"receptor = {rec}\nligand = {lig}\n{(d / 'box.txt').read_text()}\n"
                    "score_only = true\nexhaustiveness = 8\n")  # fmt: skip
    assert cli.main(["dock", "--config", str(conf)]) == 0
    assert capsys.readouterr().out == expected
    with pytest.raises(SystemExit):  # --local_only is a switch, as in Vina
        _parse(["--local_only", "1"])


def test_compile_notice_once_per_kernel(inputs, capsys):
    """The first run of a bucket's kernel says that it compiles and where it is cached; later
    runs (the kernel loaded from the cache) do not."""
    import pathlib
    import shutil

    d, tmp, smi, cache = inputs
    argv = ["dock", "--receptor", str(d / "receptor.pdbqt"), "--ligand",
            str(d / "ligand_xray.pdbqt"), "--config", str(d / "box.txt"), "--out",
            str(tmp / "notice.pdbqt"), "--cache-dir", cache, *FAST]  # fmt: skip
    assert cli.main(argv) == 0
    capsys.readouterr()
    shutil.rmtree(pathlib.Path(cache) / "jax" / "hpcfold-kernels")  # as on a first run
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    assert "compiling the docking kernel for bucket " in err
    assert f"(first run only; cached in {pathlib.Path(cache) / 'jax'})" in err
    assert cli.main(argv) == 0
    # the notice, not the progress line's "loading/compiling" status a slow load may show
    assert "compiling the docking kernel" not in capsys.readouterr().err
