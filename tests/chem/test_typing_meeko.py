"""hpcfold's AutoDock typing / torsion tree / N_rot equal meeko 0.8's on the same RDKit molecule.

meeko (a test dependency) runs ``MoleculePreparation(rigid_macrocycles=True)`` +
``PDBQTWriterLegacy`` on exactly the molecule hpcfold prepared (explicit H, same conformer);
hpcfold treats every ring as rigid, so meeko's macrocycle opening is switched off for the
comparison (identical for all non-macrocycles).
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from meeko import MoleculePreparation, PDBQTWriterLegacy
from rdkit import Chem

from hpcfold.chem.pdbqt import parse_ligand_pdbqt
from hpcfold.chem.prepare import PrepOptions, parse_smiles, prepare_rdkit, record_from_mol
from hpcfold.chem.typing import assign_ad_types, build_flex_model
from hpcfold.types import AD_TYPES

TARGETS = ("comt", "cxcr4", "fabp4", "pur2")
PER_TARGET = 52  # 13 actives + 39 decoys per target: 208 ligands
OPTS = PrepOptions(ff_max_iterations=50)


def _atom_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith(("ATOM", "HETATM"))]


def _tree_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if not ln.startswith("REMARK")]


def _meeko_pdbqt(molh: Chem.Mol) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        setups = MoleculePreparation(rigid_macrocycles=True).prepare(molh)
        text, ok, err = PDBQTWriterLegacy.write_string(setups[0])
    assert ok, err
    return text


def _dude_ligands(data, n_per_target: int):
    out = []
    for target in TARGETS:
        actives = (data / "dude" / target / "actives.smi").read_text().splitlines()
        decoys = (data / "dude" / target / "decoys.smi").read_text().splitlines()
        n_act = n_per_target // 4
        # spread the picks over each file (every k-th line), deterministic
        picks = actives[:: max(1, len(actives) // n_act)][:n_act]
        picks += decoys[:: max(1, len(decoys) // (n_per_target - n_act))][: n_per_target - n_act]
        for line in picks:
            smi, lig_id = line.split()[:2]
            out.append((target, lig_id, smi))
    return out


def test_meeko_equivalence_dude(shared_data):
    ligands = _dude_ligands(shared_data, PER_TARGET)
    assert len(ligands) >= 200
    compared = 0
    for target, lig_id, smi in ligands:
        molh = prepare_rdkit(parse_smiles(smi), lig_id, OPTS)
        rec = record_from_mol(molh, lig_id, f"{target}:{lig_id}", OPTS)
        ref_text = _meeko_pdbqt(molh)
        ref = parse_ligand_pdbqt(ref_text, lig_id, "meeko")
        where = f"{target} {lig_id} {smi}"
        # AutoDock types atom by atom, torsion count, TORSDOF and N_rot
        assert [AD_TYPES[t] for t in rec.ad_types] == [AD_TYPES[t] for t in ref.ad_types], where
        assert rec.n_torsions == ref.n_torsions, where
        assert rec.n_rot == ref.n_rot, where
        assert rec.pdbqt.splitlines()[-1] == ref_text.splitlines()[-1], where  # TORSDOF
        # stronger: the same PDBQT (atom order, coordinates, charges, tree), remarks included
        assert _tree_lines(rec.pdbqt) == _tree_lines(ref_text), where
        assert rec.pdbqt == ref_text, where
        np.testing.assert_array_equal(rec.xs_types, ref.xs_types)
        np.testing.assert_array_equal(rec.intra_pairs, ref.intra_pairs)
        compared += 1
    assert compared >= 200


@pytest.mark.parametrize(
    "smiles",
    [
        "CC(=O)N(C)c1ccccc1",  # tertiary amide, non-equivalent substituents: rotatable
        "CC(=O)N(C)C",  # tertiary amide, equivalent substituents: rigid
        "CC#CC(C)Oc1ccccc1",  # single-triple-single: the triple bond rotates
        "N#Cc1ccc(C(F)(F)F)cc1",  # nitrile rigid, CF3 keeps its torsion
        "OC(=O)CCCCCCC(=O)NO",  # hydroxamic acid, polar H branches
        "C1CCCCCCCCCCC1CCO",  # macrocycle (rigid in both)
        "NC(=N)NCCC[C@H](N)C(=O)O",  # amidine / guanidine
        "CN=NN(C)c1ccccc1",  # triazene N
        "C[Si](C)(C)OCC[N+](C)(C)C",  # Si, ammonium
        "OCCO",  # tiny: root choice tie
    ],
)
def test_meeko_equivalence_special_groups(smiles):
    molh = prepare_rdkit(parse_smiles(smiles), smiles, OPTS)
    rec = record_from_mol(molh, "x", "test", OPTS)
    assert rec.pdbqt == _meeko_pdbqt(molh)


def test_flex_model_is_a_tree_and_covers_kept_atoms():
    molh = prepare_rdkit(parse_smiles("CCOC(=O)c1ccc(NC(=O)CCN2CCOCC2)cc1"), "t", OPTS)
    ad = assign_ad_types(molh)
    flex = build_flex_model(molh, ad)
    kept = sorted(i for i, skip in enumerate(flex.ignore) if not skip)
    assert sorted(itertools.chain.from_iterable(flex.members.values())) == kept
    n_edges = sum(len(v) for v in flex.graph.values()) // 2
    assert n_edges == len(flex.graph) - 1 == flex.n_torsions
    assert all(ad[i] == "H" for i, skip in enumerate(flex.ignore) if skip)


def test_meeko_reads_hpcfold_pdbqt_back():
    from meeko import PDBQTMolecule, RDKitMolCreate

    for smiles in ("CC(=O)Oc1ccccc1C(=O)O", "N=C(N)NCCC[C@H](N)C(=O)O", "NCCc1cccc2[nH]ccc12"):
        molh = prepare_rdkit(parse_smiles(smiles), smiles, OPTS)
        rec = record_from_mol(molh, "x", "test", OPTS)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mols = RDKitMolCreate.from_pdbqt_mol(PDBQTMolecule(rec.pdbqt, skip_typing=True))
        assert Chem.MolToSmiles(Chem.RemoveHs(mols[0])) == rec.smiles == smiles
