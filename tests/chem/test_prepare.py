"""prepare_record / prepare_mol: determinism, salts, coordinates, record consistency."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from rdkit import Chem

from hpcfold.chem.prepare import PrepOptions, embed_seed, prepare_mol, prepare_record
from hpcfold.chem.readers import RawRecord, iter_records
from hpcfold.types import AD_TYPES, BUCKETS, Failure, LigandRecord, Reason

OPTS = PrepOptions()


def _smi(smiles: str, lig_id: str = "x", opts: PrepOptions = OPTS):
    return prepare_record(RawRecord("smiles", smiles, lig_id, "t.smi:1", 0), opts)


def test_seed_is_crc32_of_id_xor_seed():
    assert embed_seed("lig1", 0) == zlib.crc32(b"lig1") & 0x7FFFFFFF
    assert embed_seed("lig1", 5) == (zlib.crc32(b"lig1") ^ 5) & 0x7FFFFFFF
    assert 0 <= embed_seed("x" * 1000, -1) < 2**31


def test_deterministic_per_id_and_seed():
    smi = "CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O"
    a, b = _smi(smi, "ibu"), _smi(smi, "ibu")
    np.testing.assert_array_equal(a.coords, b.coords)
    assert a.pdbqt == b.pdbqt
    c = _smi(smi, "ibu", PrepOptions(seed=7))
    assert not np.allclose(a.coords, c.coords)
    assert c.smiles == a.smiles and c.n_torsions == a.n_torsions


def test_record_is_consistent():
    rec = _smi("CC(=O)Oc1ccccc1C(=O)O", "aspirin")
    assert isinstance(rec, LigandRecord)
    assert rec.smiles == "CC(=O)Oc1ccccc1C(=O)O"
    n = rec.n_atoms
    assert rec.coords.shape == (n, 3) and rec.coords.dtype == np.float32
    assert n == 14  # 13 heavy atoms + the acid's polar H
    assert rec.ad_types.shape == rec.xs_types.shape == rec.charges.shape == (n,)
    mol = Chem.MolFromMolBlock(rec.molblock, removeHs=False)
    assert mol.GetNumAtoms() == 21  # explicit H in the mol block
    pos = mol.GetConformer().GetPositions()
    np.testing.assert_allclose(pos[rec.mol_index], rec.coords, atol=1e-3)
    for k, m in enumerate(rec.mol_index):
        el = mol.GetAtomWithIdx(int(m)).GetSymbol()
        ad = AD_TYPES[int(rec.ad_types[k])]
        assert ad[0] in el[0] or (ad == "A" and el == "C") or (ad == "HD" and el == "H")
    # bonds: the RDKit graph among the record's atoms, with orders (4 = aromatic)
    assert rec.bonds.shape == (14, 3)
    assert sorted(set(rec.bonds[:, 2].tolist())) == [1, 2, 4]
    assert np.all(rec.bonds[:, 0] < rec.bonds[:, 1])
    assert rec.n_torsions == 4 and rec.n_rot == 3.5  # ester x2, ring-COOH, terminal O-H
    np.testing.assert_array_equal(rec.automorphisms[0], np.arange(rec.n_heavy))
    assert rec.pdbqt.startswith("REMARK SMILES") and rec.pdbqt.rstrip().endswith("TORSDOF 4")


def test_salt_stripped_largest_fragment_kept():
    rec = _smi("[Na+].[O-]C(=O)c1ccccc1.O", "benzoate")
    assert isinstance(rec, LigandRecord) and rec.smiles == "O=C([O-])c1ccccc1"
    rec = _smi("Cl.CN1CCC[C@H]1c1cccnc1", "nicotine_hcl")
    assert rec.smiles == "CN1CCC[C@H]1c1cccnc1"


def test_sdf_keeps_3d_coordinates(shared_data):
    raw = next(iter_records(shared_data / "vina-example" / "1iep_ligand.sdf"))
    rec = prepare_record(raw, OPTS)
    given = Chem.MolFromMolBlock(raw.text, removeHs=False).GetConformer().GetPositions()
    mol = Chem.MolFromMolBlock(rec.molblock, removeHs=False)
    np.testing.assert_allclose(mol.GetConformer().GetPositions()[: len(given)], given, atol=1e-4)
    assert rec.n_torsions == 7 and rec.lig_id == "STI"
    assert rec.source.endswith("1iep_ligand.sdf:1")


def test_sdf_2d_is_embedded():
    mol = Chem.MolFromSmiles("OCCc1ccccc1")
    block = Chem.MolToMolBlock(mol)  # 2D (all z = 0)
    rec = prepare_record(RawRecord("sdf", block + "$$$$\n", "pe", "t.sdf:1", 0), OPTS)
    assert isinstance(rec, LigandRecord)
    assert np.ptp(rec.coords[:, 2]) > 0.1


def test_prepare_mol_for_poses_keeps_coords(shared_data):
    mol = Chem.MolFromMolFile(str(shared_data / "vina-example" / "1iep_ligand.sdf"))
    heavy_given = mol.GetConformer().GetPositions()
    rec = prepare_mol(mol, "sti", "pose.sdf:1", OPTS, keep_coords=True)
    assert isinstance(rec, LigandRecord)
    heavy = rec.coords[rec.heavy_index]
    assert rec.n_heavy == mol.GetNumAtoms()
    d = np.linalg.norm(heavy[:, None, :] - heavy_given[None, :, :], axis=-1).min(axis=1)
    assert d.max() < 2e-3
    fail = prepare_mol(Chem.MolFromSmiles("CC"), "x", "s", OPTS, keep_coords=True)
    assert isinstance(fail, Failure) and fail.reason == Reason.EMBED_FAILED


def test_torsion_limit_and_buckets():
    chain = "C" + "C" * 20 + "O"
    rec = _smi(chain, "chain")
    assert rec.n_torsions == 20
    fail = _smi(chain, "chain", PrepOptions(max_torsions=10))
    assert isinstance(fail, Failure) and fail.reason == Reason.TOO_MANY_TORSIONS
    assert "20 torsions" in fail.message
    assert rec.n_atoms <= BUCKETS[0].n_atoms


def test_pdbqt_input_keeps_given_types_and_tree(shared_data):
    raw = next(iter_records(shared_data / "vina-example" / "1iep_ligand.pdbqt"))
    rec = prepare_record(raw, OPTS)
    assert isinstance(rec, LigandRecord)
    assert rec.n_torsions == 7 and rec.molblock  # meeko's REMARK SMILES: the chemistry is kept
    assert rec.smiles == "Cc1ccc(NC(=O)c2ccc(CN3CC[NH+](C)CC3)cc2)cc1Nc1nccc(-c2cccnc2)n1"
    assert rec.automorphisms.shape == (4, rec.n_heavy)
    atom_lines = [ln for ln in raw.text.splitlines() if ln.startswith("ATOM")]
    assert [AD_TYPES[t] for t in rec.ad_types] == [ln[77:79].strip() for ln in atom_lines]


def test_tiny_molecules():
    for smiles, n_atoms in [("C", 1), ("O", 3), ("CC", 2), ("[NH4+]", 5)]:
        rec = _smi(smiles, smiles)
        assert isinstance(rec, LigandRecord), smiles
        assert rec.n_atoms == n_atoms and rec.n_torsions == 0, smiles
        assert rec.automorphisms.shape[1] == rec.n_heavy


@pytest.mark.slow
def test_long_flexible_chains_embed_from_random_coordinates():
    """ETKDG's default start fails on long chains; the retry from random coordinates embeds."""
    from rdkit.Chem import AllChem

    from hpcfold.chem.prepare import embed_3d

    rec = _smi("C" * 62, "c62")
    assert isinstance(rec, LigandRecord) and rec.n_heavy == 62 and rec.n_torsions == 59
    pep = Chem.MolFromSmiles(Chem.MolToSmiles(Chem.MolFromSequence("GASVLIKRDEGASVLIKRDE")))
    params = AllChem.ETKDGv3()
    params.randomSeed, params.maxIterations = embed_seed("pep20", 0), OPTS.embed_max_iterations
    assert AllChem.EmbedMolecule(Chem.AddHs(pep), params) < 0  # the default start alone fails
    molh = embed_3d(pep, "pep20", PrepOptions(ff_max_iterations=0))
    assert molh.GetNumConformers() == 1


def test_smiles_longer_than_the_limit_is_too_large_unparsed():
    import time

    from hpcfold.chem.prepare import SMILES_CHARS_PER_HEAVY_ATOM

    t0 = time.perf_counter()
    rec = _smi("C" * 1_000_000, "huge")
    assert time.perf_counter() - t0 < 0.5
    assert isinstance(rec, Failure) and rec.reason == Reason.TOO_LARGE
    assert "1000000 characters" in rec.message
    limit = SMILES_CHARS_PER_HEAVY_ATOM * 10
    small = PrepOptions(max_heavy_atoms=10)
    assert _smi("C" * (limit + 1), "over", small).reason == Reason.TOO_LARGE
    assert "heavy atoms" in _smi("C" * limit, "parsed", small).message  # parsed, then too large


def test_failed_force_field_clean_up_is_a_warning_in_the_pdbqt(monkeypatch):
    from rdkit.Chem import AllChem

    def broken(*args, **kwargs):
        raise RuntimeError("no MMFF today")

    monkeypatch.setattr(AllChem, "MMFFGetMoleculeForceField", broken)
    rec = _smi("CCOc1ccccc1", "warned")
    assert isinstance(rec, LigandRecord)
    first = rec.pdbqt.split("\n")[0]
    assert first.startswith("REMARK hpcfold warning: force-field clean-up failed")
    assert "no MMFF today" in first and "ETKDG geometry kept" in first
    monkeypatch.undo()
    assert "hpcfold warning" not in _smi("CCOc1ccccc1", "clean").pdbqt


def test_symmetry_failure_falls_back_to_the_identity_marked(monkeypatch, shared_data):
    from hpcfold.chem import symmetry

    def broken(*args):
        raise RuntimeError("no symmetry")

    monkeypatch.setattr(symmetry, "mol_automorphisms", broken)
    monkeypatch.setattr(symmetry, "graph_automorphisms", broken)
    rec = _smi("OC(=O)c1ccccc1", "benzoic", PrepOptions(max_automorphisms=7))
    assert rec.automorphisms.shape == (1, rec.n_heavy) and rec.automorphisms_truncated
    path = shared_data / "vina-example" / "1iep_ligand.pdbqt"
    raw = next(iter_records(str(path)))
    rec = prepare_record(raw, OPTS)
    assert rec.automorphisms.shape == (1, rec.n_heavy) and rec.automorphisms_truncated


def test_too_many_torsions_is_found_before_embedding():
    """PEG61 took 20 s to embed before failing on its 183 torsions; the torsion tree needs no 3D."""
    import time

    t0 = time.perf_counter()
    rec = _smi("O" + "CCO" * 61, "peg61")
    assert time.perf_counter() - t0 < 1.0
    assert rec.reason == Reason.TOO_MANY_TORSIONS and rec.message.startswith("183 torsions")
    ok = _smi("CCCCCCO", "hexanol", PrepOptions(max_torsions=5))  # 5 torsions: at the limit
    assert isinstance(ok, LigandRecord) and ok.n_torsions == 5
