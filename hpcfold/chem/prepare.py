"""Ligand preparation: a RawRecord or an RDKit molecule -> LigandRecord (or a Failure).

Steps for SMILES / SDF input (every one bounded by counts, never by a wall-clock timeout):
1. parse with RDKit (a parse or sanitization error is a PARSE_ERROR with RDKit's message);
2. reject any transition / post-transition metal (METAL_COMPLEX); alkali and alkaline-earth ions
   are counter-ions and go with the salt; keep the largest fragment (most heavy atoms, first on a
   tie), so salts and mixtures become their largest component;
3. reject elements Vina cannot type (allowed: H C N O F P S Cl Br I Si), radicals and more than
   ``max_heavy_atoms`` heavy atoms;
4. add hydrogens; embed with ETKDGv3 (random seed ``crc32(lig_id) ^ seed``, ``maxIterations``
   capped; when that fails, once more from random coordinates) and clean up with MMFF94 (UFF
   when MMFF lacks parameters) for at most ``ff_max_iterations`` steps; a clean-up that raises
   keeps the ETKDG geometry and says so in a ``REMARK hpcfold warning:`` line of the ligand's
   PDBQT. SDF records with 3D coordinates keep them (missing hydrogens are placed);
5. AutoDock typing, rotatable bonds and torsion tree as meeko 0.8 (hpcfold.chem.typing), PDBQT
   text (hpcfold.chem.pdbqt_writer), parsed back by ``hpcfold.chem.pdbqt.parse_ligand_pdbqt`` so
   that frames, intramolecular pairs and N_rot have one source of truth; then bonds with RDKit
   orders, canonical SMILES, the mol block (explicit H), the atom map and heavy-atom automorphisms.
PDBQT input keeps its own types and torsion tree (only the size limits and symmetry are added).
A SMILES longer than ``SMILES_CHARS_PER_HEAVY_ATOM * max_heavy_atoms`` is TOO_LARGE unparsed.
"""

from __future__ import annotations

import dataclasses
import zlib

import numpy as np
from rdkit import Chem, RDLogger
from rdkit.Chem import AllChem

from hpcfold.chem import symmetry
from hpcfold.chem.pdbqt_writer import gasteiger_charges, merged_charges, write_ligand_pdbqt
from hpcfold.chem.readers import RawRecord
from hpcfold.chem.typing import TypingError, assign_ad_types, build_flex_model
from hpcfold.types import AD_TYPES, Failure, LigandRecord, Reason, bucket_for

RDLogger.DisableLog("rdApp.*")  # RDKit's messages go into Failure.message instead

ALLOWED_ELEMENTS = frozenset({1, 6, 7, 8, 9, 14, 15, 16, 17, 35, 53})
COUNTER_ION_METALS = frozenset({3, 11, 19, 37, 55, 4, 12, 20, 38, 56})  # alkali, alkaline earth
_NON_METALS = frozenset({1, 2, 5, 6, 7, 8, 9, 10, 14, 15, 16, 17, 18, 32, 33, 34, 35, 36})
_NON_METALS = _NON_METALS | {51, 52, 53, 54, 85, 86}
# A SMILES spends at most ~9 characters on one heavy atom (``[13C@@H+]``) plus ring-closure
# digits (``%12``) and bond symbols; drug-like SMILES use ~2-4 (DUD-E's 12,884 ligands at most
# 4.1, a 20-mer peptide 2.2, an isotope-labelled chain 7). 16 per allowed heavy atom refuses
# nothing valid and keeps RDKit away from a 1 MB line (seconds and hundreds of MB to parse).
SMILES_CHARS_PER_HEAVY_ATOM = 16
_WARNING_PROP = "hpcfold_warning"  # RDKit property carrying a preparation warning
_BOND_ORDER = {
    Chem.BondType.SINGLE: 1,
    Chem.BondType.DOUBLE: 2,
    Chem.BondType.TRIPLE: 3,
    Chem.BondType.AROMATIC: 4,
}
_AD_ELEMENT = {
    "C": 6, "A": 6, "N": 7, "NA": 7, "N0": 7, "OA": 8, "OS": 8, "S": 16, "SA": 16, "P": 15,
    "F": 9, "Cl": 17, "Br": 35, "I": 53, "Si": 14, "At": 85, "Se": 34, "Mg": 12, "Mn": 25,
    "Zn": 30, "Ca": 20, "Fe": 26, "Cu": 29, "Na": 11, "K": 19, "Hg": 80, "Co": 27, "U": 92,
    "Cd": 48, "Ni": 28, "CG0": 6, "CG1": 6, "CG2": 6, "CG3": 6,
}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class PrepOptions:
    """Preparation limits. All bounds are counts (deterministic), none are timeouts.

    seed: xor-ed into the per-ligand embedding seed; max_heavy_atoms / max_torsions: larger
    ligands fail (TOO_LARGE / TOO_MANY_TORSIONS); max_automorphisms: RDKit maxMatches cap for
    symmetry; embed_max_iterations: ETKDG maxIterations; ff_max_iterations: MMFF/UFF steps.
    """

    seed: int = 0
    max_heavy_atoms: int = 300
    max_torsions: int = 64
    max_automorphisms: int = 1000
    embed_max_iterations: int = 200
    ff_max_iterations: int = 200

    def __post_init__(self):
        for name in ("max_heavy_atoms", "max_automorphisms"):
            if getattr(self, name) < 1:
                raise ValueError(f"PrepOptions.{name} must be >= 1")
        for name in ("max_torsions", "embed_max_iterations", "ff_max_iterations"):
            if getattr(self, name) < 0:
                raise ValueError(f"PrepOptions.{name} must be >= 0")


class PrepError(Exception):
    """A ligand that cannot be prepared; carries the Failure reason."""

    def __init__(self, reason: Reason, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


def embed_seed(lig_id: str, seed: int) -> int:
    """Deterministic ETKDG seed for a ligand: crc32 of the id xor the run seed, in [0, 2^31)."""
    return (zlib.crc32(lig_id.encode("utf-8")) ^ (int(seed) & 0xFFFFFFFF)) & 0x7FFFFFFF


def _why_not(mol: Chem.Mol | None, what: str) -> PrepError:
    """The PARSE_ERROR for a record RDKit rejected, with RDKit's reason when it has one."""
    if mol is None:
        return PrepError(Reason.PARSE_ERROR, f"RDKit cannot parse the {what}")
    try:
        Chem.SanitizeMol(mol)
    except Exception as exc:  # RDKit raises several sanitization exception types
        return PrepError(Reason.PARSE_ERROR, f"invalid {what}: {exc}")
    return PrepError(Reason.PARSE_ERROR, f"RDKit rejected the {what}")


def parse_smiles(smiles: str) -> Chem.Mol:
    """Sanitized RDKit molecule of a SMILES; PrepError(PARSE_ERROR) with RDKit's reason."""
    mol = Chem.MolFromSmiles(smiles)  # sanitized, stereo perceived (as a plain RDKit script)
    if mol is None:
        raise _why_not(Chem.MolFromSmiles(smiles, sanitize=False), f"SMILES {smiles!r}")
    return mol


def parse_molblock(text: str) -> Chem.Mol:
    """Sanitized molecule (hydrogens kept, stereo from the block) of one SDF record."""
    mol = Chem.MolFromMolBlock(text, removeHs=False)
    if mol is None:  # e.g. a non-standard header or count line that RDKit can still read
        mol = Chem.MolFromMolBlock(text, removeHs=False, strictParsing=False)
    if mol is None:
        raw = Chem.MolFromMolBlock(text, sanitize=False, removeHs=False, strictParsing=False)
        raise _why_not(raw, "SDF record")
    if mol.GetNumAtoms() == 0:
        raise PrepError(Reason.EMPTY_RECORD, "SDF record has no atoms")
    return mol


def _has_3d(mol: Chem.Mol) -> bool:
    if mol.GetNumConformers() == 0:
        return False
    conf = mol.GetConformer()
    if conf.Is3D():
        return True
    return bool(np.any(np.abs(conf.GetPositions()[:, 2]) > 1e-4))


def clean_fragments(mol: Chem.Mol, max_heavy_atoms: int) -> Chem.Mol:
    """Metal / element / radical / size checks and the largest fragment (see module doc)."""
    if mol.GetNumAtoms() == 0:
        raise PrepError(Reason.EMPTY_RECORD, "molecule has no atoms")
    for atom in mol.GetAtoms():
        z = atom.GetAtomicNum()
        if z != 0 and z not in _NON_METALS and z not in COUNTER_ION_METALS:
            raise PrepError(Reason.METAL_COMPLEX, f"contains the metal {atom.GetSymbol()}")
    if len(Chem.GetMolFrags(mol)) > 1:
        try:
            frags = Chem.GetMolFrags(mol, asMols=True)
        except Exception as exc:
            raise PrepError(Reason.PARSE_ERROR, f"fragment: {exc}") from None
        mol = max(frags, key=lambda m: m.GetNumHeavyAtoms())  # first on a tie
    for atom in mol.GetAtoms():
        z = atom.GetAtomicNum()
        if z in COUNTER_ION_METALS:
            raise PrepError(Reason.METAL_COMPLEX, f"{atom.GetSymbol()} bonded to the ligand")
        if z not in ALLOWED_ELEMENTS:
            raise PrepError(
                Reason.UNSUPPORTED_ELEMENT,
                f"element {atom.GetSymbol()} cannot be typed for Vina "
                "(allowed: H C N O F P S Cl Br I Si)",
            )
        if atom.GetNumRadicalElectrons() > 0:
            raise PrepError(
                Reason.RADICAL, f"atom {atom.GetIdx() + 1} ({atom.GetSymbol()}) is a radical"
            )
    n_heavy = mol.GetNumHeavyAtoms()
    if n_heavy == 0:
        raise PrepError(Reason.EMPTY_RECORD, "molecule has no heavy atoms")
    if n_heavy > max_heavy_atoms:
        raise PrepError(
            Reason.TOO_LARGE, f"{n_heavy} heavy atoms, more than the limit {max_heavy_atoms}"
        )
    return mol


def embed_3d(mol: Chem.Mol, lig_id: str, opts: PrepOptions) -> Chem.Mol:
    """Hydrogens added, one ETKDGv3 conformer and a bounded force-field clean-up."""
    molh = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = embed_seed(lig_id, opts.seed)
    params.maxIterations = opts.embed_max_iterations
    params.numThreads = 1
    if AllChem.EmbedMolecule(molh, params) < 0:
        # long flexible chains (a C62 alkane, PEG61, 20-mer peptides) defeat the eigenvector
        # start but embed from random coordinates (1-8 s); only failures pay for the retry
        params.useRandomCoords = True
        if AllChem.EmbedMolecule(molh, params) < 0:
            raise PrepError(
                Reason.EMBED_FAILED,
                f"ETKDGv3 found no 3D embedding within {opts.embed_max_iterations} iterations "
                "(also from random coordinates)",
            )
    if opts.ff_max_iterations > 0:
        # on a copy: MMFF typing re-perceives aromaticity in place (MMFF's model), and typing
        # must see RDKit's aromaticity, as meeko does on a molecule read from SDF
        work = Chem.Mol(molh)
        try:
            props = AllChem.MMFFGetMoleculeProperties(work)  # None without MMFF parameters
            if props is not None:
                ff = AllChem.MMFFGetMoleculeForceField(work, props)
            elif AllChem.UFFHasAllMoleculeParams(work):
                ff = AllChem.UFFGetMoleculeForceField(work)
            else:
                ff = None
            if ff is not None:
                ff.Minimize(maxIts=opts.ff_max_iterations)
                molh.GetConformer().SetPositions(work.GetConformer().GetPositions())
        except Exception as exc:  # noqa: BLE001 - a failed clean-up keeps the ETKDG geometry
            why = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
            molh.SetProp(_WARNING_PROP, f"force-field clean-up failed ({why}); ETKDG geometry kept")
    if not np.all(np.isfinite(molh.GetConformer().GetPositions())):
        raise PrepError(Reason.EMBED_FAILED, "embedding produced non-finite coordinates")
    return molh


def _check_size(rec: LigandRecord, opts: PrepOptions) -> None:
    if rec.n_heavy > opts.max_heavy_atoms:
        raise PrepError(
            Reason.TOO_LARGE,
            f"{rec.n_heavy} heavy atoms, more than the limit {opts.max_heavy_atoms}",
        )
    if rec.n_torsions > opts.max_torsions:
        raise PrepError(
            Reason.TOO_MANY_TORSIONS,
            f"{rec.n_torsions} torsions, more than the limit {opts.max_torsions}",
        )
    if bucket_for(rec.n_atoms, rec.n_torsions, int(rec.intra_pairs.shape[0])) is None:
        raise PrepError(
            Reason.TOO_LARGE,
            f"{rec.n_atoms} atoms / {rec.n_torsions} torsions / {rec.intra_pairs.shape[0]} "
            "intramolecular pairs fit no size bucket",
        )


def _heavy_edges(bonds: np.ndarray, heavy: np.ndarray) -> set[tuple[int, int]]:
    b = np.asarray(bonds, dtype=np.int64)
    if b.size == 0:
        return set()
    b = b.reshape(b.shape[0], -1)[:, :2]
    keep = heavy[b[:, 0]] & heavy[b[:, 1]]
    return {(min(i, j), max(i, j)) for i, j in b[keep].tolist()}


def _same_heavy_graph(rec: LigandRecord, bonds: np.ndarray) -> bool:
    """Whether the PDBQT parser's geometric bonds equal the RDKit graph on the heavy atoms (then
    the parser's element-graph automorphisms are the ones symmetry.mol_automorphisms finds)."""
    heavy = rec.xs_types >= 0
    return _heavy_edges(rec.bonds, heavy) == _heavy_edges(bonds, heavy)


def record_from_mol(molh: Chem.Mol, lig_id: str, source: str, opts: PrepOptions) -> LigandRecord:
    """LigandRecord of a molecule with explicit hydrogens and one 3D conformer."""
    from hpcfold.chem import pdbqt  # helper "score"'s parser: one source of truth

    try:
        ad = assign_ad_types(molh)
        flex = build_flex_model(molh, ad)
    except TypingError as exc:
        raise PrepError(Reason.TYPING_ERROR, str(exc)) from None
    if flex.n_torsions > opts.max_torsions:
        raise PrepError(
            Reason.TOO_MANY_TORSIONS,
            f"{flex.n_torsions} torsions, more than the limit {opts.max_torsions}",
        )
    charges = merged_charges(molh, gasteiger_charges(molh), flex.ignore)
    text, order, smiles = write_ligand_pdbqt(molh, ad, charges, flex)
    try:
        rec = pdbqt.parse_ligand_pdbqt(text, lig_id, source)
    except ValueError as exc:
        raise PrepError(Reason.TYPING_ERROR, f"PDBQT of the prepared ligand: {exc}") from None
    pos = {rd: k for k, rd in enumerate(order)}
    bonds = []
    for b in molh.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        if i in pos and j in pos:
            a, c = sorted((pos[i], pos[j]))
            bonds.append((a, c, _BOND_ORDER.get(b.GetBondType(), 1)))
    bonds_arr = np.array(sorted(bonds), dtype=np.int32).reshape(-1, 3)
    autos, truncated = rec.automorphisms, rec.automorphisms_truncated
    if not _same_heavy_graph(rec, bonds_arr) or opts.max_automorphisms != getattr(
        pdbqt, "MAX_AUTOMORPHISMS", None
    ):
        heavy = [order[k] for k in np.flatnonzero(rec.xs_types >= 0)]
        autos, truncated = _automorphisms(
            symmetry.mol_automorphisms, len(heavy), molh, heavy, opts.max_automorphisms
        )
    pdbqt_text = rec.pdbqt
    if molh.HasProp(_WARNING_PROP):
        pdbqt_text = f"REMARK hpcfold warning: {molh.GetProp(_WARNING_PROP)}\n" + pdbqt_text
    rec = dataclasses.replace(
        rec,
        pdbqt=pdbqt_text,
        smiles=smiles,
        bonds=bonds_arr,
        molblock=Chem.MolToMolBlock(molh),
        mol_index=np.asarray(order, dtype=np.int32),
        automorphisms=autos,
        automorphisms_truncated=truncated,
    )
    _check_size(rec, opts)
    return rec


def prepare_rdkit(
    mol: Chem.Mol, lig_id: str, opts: PrepOptions, keep_coords: bool = False
) -> Chem.Mol:
    """The prepared RDKit molecule (largest fragment, explicit H, one 3D conformer).

    Raises PrepError. ``keep_coords``: keep the input 3D coordinates (placing missing H).
    """
    mol = clean_fragments(mol, opts.max_heavy_atoms)
    if keep_coords:
        if not _has_3d(mol):
            raise PrepError(Reason.EMBED_FAILED, "keep_coords needs 3D coordinates")
        xyz = mol.GetConformer().GetPositions()
        bad = np.flatnonzero(~np.all(np.isfinite(xyz), axis=1))
        if bad.size:
            raise PrepError(Reason.PARSE_ERROR, f"atom {bad[0] + 1} has a non-finite coordinate")
        Chem.AssignStereochemistryFrom3D(mol)
        conf_id = mol.GetConformer().GetId()
        molh = Chem.AddHs(mol, addCoords=True)
        if molh.GetNumConformers() > 1:
            keep = Chem.Mol(molh, confId=conf_id)
            molh = keep
        return molh
    _check_torsions(Chem.AddHs(mol), opts)  # typing needs no 3D: refuse before embedding
    return embed_3d(mol, lig_id, opts)


def _check_torsions(molh: Chem.Mol, opts: PrepOptions) -> None:
    """TOO_MANY_TORSIONS from the typed graph alone (the torsion tree needs no coordinates), so
    a PEG61 fails in milliseconds instead of after 20 s of embedding. Typing errors are left
    to ``record_from_mol``, which reports them."""
    try:
        flex = build_flex_model(molh, assign_ad_types(molh))
    except TypingError:
        return
    if flex.n_torsions > opts.max_torsions:
        raise PrepError(
            Reason.TOO_MANY_TORSIONS,
            f"{flex.n_torsions} torsions, more than the limit {opts.max_torsions}",
        )


def prepare_mol(
    mol: Chem.Mol, lig_id: str, source: str, opts: PrepOptions, keep_coords: bool
) -> LigandRecord | Failure:
    """Prepare an RDKit molecule (e.g. an SDF pose for ``hpcfold score``); never raises."""
    smiles = ""
    try:
        smiles = Chem.MolToSmiles(mol)
        molh = prepare_rdkit(mol, lig_id, opts, keep_coords=keep_coords)
        return record_from_mol(molh, lig_id, source, opts)
    except PrepError as exc:
        return Failure(lig_id, source, smiles, exc.reason, exc.message)
    except Exception as exc:  # every ligand comes out as a record or a Failure
        return Failure(
            lig_id, source, smiles, Reason.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}"
        )


def _automorphisms(fn, n_heavy: int, *args) -> tuple[np.ndarray, bool]:
    """``fn(*args)`` (a ``symmetry`` function); when it raises, the identity alone with the
    truncated flag set: RMSDs stay valid upper bounds, and the flag says symmetry is missing."""
    try:
        return fn(*args)
    except Exception:  # noqa: BLE001 - symmetry is optional; the identity is always valid
        return np.arange(n_heavy, dtype=np.int16)[None, :], True


def _pdbqt_record(raw: RawRecord, opts: PrepOptions) -> LigandRecord:
    from hpcfold.chem.pdbqt import parse_ligand_pdbqt
    from hpcfold.chem.pdbqt_smiles import molblock_from_remarks

    try:
        rec = parse_ligand_pdbqt(raw.text, raw.lig_id, raw.source)
    except ValueError as exc:
        raise PrepError(Reason.PARSE_ERROR, str(exc)) from None
    if rec.n_atoms == 0:
        raise PrepError(Reason.EMPTY_RECORD, "PDBQT record has no atoms")
    heavy = np.flatnonzero(rec.xs_types >= 0)
    pos = {int(a): k for k, a in enumerate(heavy)}
    elements = [_AD_ELEMENT.get(AD_TYPES[int(rec.ad_types[a])], 0) for a in heavy]
    bonds = [(pos[int(i)], pos[int(j)]) for i, j in rec.bonds[:, :2] if i in pos and j in pos]
    autos, truncated = _automorphisms(
        symmetry.graph_automorphisms, len(elements), elements,
        np.array(bonds, dtype=np.int64).reshape(-1, 2), opts.max_automorphisms,
    )  # fmt: skip
    rec = dataclasses.replace(rec, automorphisms=autos, automorphisms_truncated=truncated)
    chem = molblock_from_remarks(raw.text, rec)  # meeko's REMARK SMILES: bond orders for SDF
    if chem is not None:
        rec = dataclasses.replace(rec, molblock=chem[0], mol_index=chem[1], smiles=chem[2])
    _check_size(rec, opts)
    return rec


def prepare_record(raw: RawRecord, opts: PrepOptions) -> LigandRecord | Failure:
    """Prepare one reader record; every outcome is a LigandRecord or a Failure (never raises)."""
    if raw.error is not None:
        return raw.error
    smiles = raw.text if raw.kind == "smiles" else ""
    try:
        if raw.kind == "smiles":
            limit = SMILES_CHARS_PER_HEAVY_ATOM * opts.max_heavy_atoms
            if len(raw.text) > limit:
                raise PrepError(
                    Reason.TOO_LARGE,
                    f"SMILES of {len(raw.text)} characters, more than {limit} "
                    f"({SMILES_CHARS_PER_HEAVY_ATOM} per allowed heavy atom)",
                )
            mol = parse_smiles(raw.text)
            molh = prepare_rdkit(mol, raw.lig_id, opts, keep_coords=False)
            return record_from_mol(molh, raw.lig_id, raw.source, opts)
        if raw.kind == "sdf":
            mol = parse_molblock(raw.text)
            smiles = Chem.MolToSmiles(mol)
            molh = prepare_rdkit(mol, raw.lig_id, opts, keep_coords=_has_3d(mol))
            return record_from_mol(molh, raw.lig_id, raw.source, opts)
        if raw.kind == "pdbqt":
            return _pdbqt_record(raw, opts)
        raise PrepError(Reason.INTERNAL_ERROR, f"unknown record kind {raw.kind!r}")
    except PrepError as exc:
        return Failure(raw.lig_id, raw.source, smiles, exc.reason, exc.message)
    except Exception as exc:  # every ligand comes out as a record or a Failure
        msg = f"{type(exc).__name__}: {exc}"
        return Failure(raw.lig_id, raw.source, smiles, Reason.INTERNAL_ERROR, msg)
