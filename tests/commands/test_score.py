"""``hpcfold score`` end to end (real files, real JAX scoring)."""

from __future__ import annotations

import json

import pytest

from hpcfold.cli import main

KEYS = {"affinity", "inter", "intra", "gauss1", "gauss2", "repulsion", "hydrophobic", "hbond"}


@pytest.fixture(scope="module")
def ex(shared_data):
    return shared_data / "vina-example"


def _json(capsys, argv):
    code = main(argv)
    out = capsys.readouterr().out
    return code, json.loads(out)


def _base(ex, ligand: str) -> list[str]:
    """``hpcfold score`` on the 1iep receptor with ``ligand``."""
    return ["score", "--receptor", str(ex / "1iep_receptor.pdbqt"), "--ligand", ligand]


def test_score_crystal_json(ex, capsys):
    code, rows = _json(
        capsys,
        [
            *_base(ex, str(ex / "1iep_ligand.pdbqt")),
            "--config",
            str(ex / "1iep_receptor.box.txt"),
            "--json",
        ],
    )
    assert code == 0 and len(rows) == 1 and set(rows[0]) == KEYS
    assert rows[0]["affinity"] == pytest.approx(-12.5131, abs=2e-4)
    assert rows[0]["inter"] == pytest.approx(-17.6337, abs=2e-4)
    assert rows[0]["intra"] == pytest.approx(-0.4845, abs=2e-4)


def test_score_multimodel_vinardo_center_size(ex, capsys):
    code, rows = _json(
        capsys,
        [
            *_base(ex, str(ex / "1iep_ligand_vina_out.pdbqt")),
            "--center",
            "15.190",
            "53.903",
            "16.917",
            "--size",
            "20",
            "20",
            "20",
            "--scoring",
            "vinardo",
            "--json",
        ],
    )
    assert code == 0 and len(rows) == 4
    assert all(r["gauss2"] == 0 for r in rows)
    assert all(r["affinity"] < -5 for r in rows)


def test_score_text_output_and_bad_model(ex, tmp_path, capsys):
    good = (ex / "1iep_ligand.pdbqt").read_text()
    bad = good.replace(" OA\n", " Xx\n", 1)
    lig = tmp_path / "two.pdbqt"
    lig.write_text(f"MODEL 1\n{good}ENDMDL\nMODEL 2\n{bad}ENDMDL\n")
    code = main(
        [
            *_base(ex, str(lig)),
            "--config",
            str(ex / "1iep_receptor.box.txt"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    lines = [ln for ln in out.splitlines() if not ln.startswith(("#", "pose"))]
    assert "-12.513" in lines[0] and "PARSE_ERROR" in lines[1]


def test_score_user_errors(ex, tmp_path, capsys):
    base = ["score", "--receptor", str(ex / "1iep_receptor.pdbqt")]
    assert main([*base, "--ligand", str(tmp_path / "none.pdbqt")]) == 2
    (tmp_path / "x.mol2").write_text("x")
    assert main([*base, "--ligand", str(tmp_path / "x.mol2")]) == 2
    assert main([*base, "--ligand", str(ex / "1iep_ligand.pdbqt"), "--center", "0", "0", "0"]) == 2
    assert "error" in capsys.readouterr().err


def test_score_sdf_pose_through_prep(ex, capsys):
    """SDF records are typed by hpcfold's prep (helper "chem") with the file's coordinates."""
    code, rows = _json(
        capsys,
        [
            *_base(ex, str(ex / "1iep_ligand.sdf")),
            "--config",
            str(ex / "1iep_receptor.box.txt"),
            "--json",
        ],
    )
    assert code == 0 and len(rows) == 1
    assert rows[0]["affinity"] == pytest.approx(-12.513, abs=0.01)


def test_nonfinite_energy_is_reported(ex, tmp_path, capsys):
    lines = (ex / "1iep_ligand.pdbqt").read_text().splitlines(keepends=True)
    k = next(i for i, ln in enumerate(lines) if ln.startswith("ATOM"))
    lines[k] = lines[k][:30] + "     nan" + lines[k][38:]
    lig = tmp_path / "nan.pdbqt"
    lig.write_text("".join(lines))
    code, rows = _json(
        capsys,
        [
            *_base(ex, str(lig)),
            "--config",
            str(ex / "1iep_receptor.box.txt"),
            "--json",
        ],
    )
    assert code == 1 and rows[0]["affinity"] is None  # refused when read, naming the line
    assert rows[0]["error"].startswith(f"PARSE_ERROR: line {k + 1}: non-finite coordinate")


def test_vina_config_file_sets_what_vina_reads_from_it(ex, tmp_path, capsys):
    """A Vina config with receptor, ligand, box, scoring and a weight scores exactly as the same
    options on the command line; the command line wins; search keys are ignored with a warning
    and unknown keys are errors (before, everything but the box was dropped silently)."""
    conf = tmp_path / "vina.conf"
    conf.write_text(
        f"receptor = {ex / '1iep_receptor.pdbqt'}\nligand = {ex / '1iep_ligand.pdbqt'}\n"
        f"{(ex / '1iep_receptor.box.txt').read_text()}\n"
        "scoring = vinardo\nweight_gauss1 = -0.05\nscore_only = true\ncpu = 4  # comment\n"
    )
    assert main(["score", "--config", str(conf), "--json"]) == 0
    captured = capsys.readouterr()
    from_conf = json.loads(captured.out)
    assert "ignored cpu" in captured.err
    cli = [*_base(ex, str(ex / "1iep_ligand.pdbqt")), "--center_x", "15.190", "--center_y",
           "53.903", "--center_z", "16.917", "--size", "20", "20", "20", "--json"]  # fmt: skip
    code, same = _json(capsys, [*cli, "--scoring", "vinardo", "--weight_gauss1", "-0.05"])
    assert code == 0 and from_conf == same
    code, vinardo = _json(capsys, [*cli, "--scoring", "vinardo"])
    assert vinardo[0]["affinity"] != pytest.approx(same[0]["affinity"], abs=1e-3)
    code, cli_wins = _json(capsys, ["score", "--config", str(conf), "--scoring", "vina", "--json"])
    code, vina_w = _json(capsys, [*cli, "--weight_gauss1", "-0.05"])
    assert cli_wins == vina_w
    conf.write_text(conf.read_text() + "flex = side_chains.pdbqt\n")
    assert main(["score", "--config", str(conf)]) == 2
    assert "does not support flex" in capsys.readouterr().err
    assert main(["score", "--ligand", str(ex / "1iep_ligand.pdbqt")]) == 2
    assert "give --receptor" in capsys.readouterr().err


def _moved(src, dst, dx: float = 0.0, bad: str | None = None):
    """``src`` PDBQT with every ATOM shifted by ``dx`` A in x, or its first ATOM's x set to
    ``bad`` (e.g. 'nan')."""
    out, first = [], True
    for line in src.read_text().split("\n"):
        if line.startswith(("ATOM", "HETATM")):
            x = f"{float(line[30:38]) + dx:8.3f}" if bad is None or not first else f"{bad:>8}"
            line, first = line[:30] + x + line[38:], False
        out.append(line)
    dst.write_text("\n".join(out))
    return dst


def test_pose_outside_the_box_is_refused_as_vina_does(ex, tmp_path, capsys):
    far = _moved(ex / "1iep_ligand.pdbqt", tmp_path / "far.pdbqt", dx=200.0)
    argv = [*_base(ex, str(far)), "--config", str(ex / "1iep_receptor.box.txt")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "far.pdbqt:MODEL 1: the ligand is outside the grid box" in err and "\n" not in err
    assert "increase the size of the grid box" in err


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
def test_non_finite_pose_without_a_box_is_one_line(ex, tmp_path, capsys, bad):
    lig = _moved(ex / "1iep_ligand.pdbqt", tmp_path / "bad.pdbqt", bad=bad)
    assert main(_base(ex, str(lig))) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hpcfold score: error: no box") and "\n" not in err
    assert "bad.pdbqt:MODEL 1: line" in err and "non-finite coordinate" in err


def test_receptor_with_nan_coordinates_is_refused(ex, tmp_path, capsys):
    rec = _moved(ex / "1iep_receptor.pdbqt", tmp_path / "rec.pdbqt", bad="nan")
    argv = ["score", "--receptor", str(rec), "--ligand", str(ex / "1iep_ligand.pdbqt"),
            "--config", str(ex / "1iep_receptor.box.txt")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "rec.pdbqt:" in err and "non-finite coordinate" in err
