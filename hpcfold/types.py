"""Plain-numpy records that cross layer boundaries (chem -> store -> dock -> store).

Nothing here imports RDKit, JAX, h5py or mpi4py: every layer may import this module.

Atom-order convention for a ligand: atoms appear in the order of the ATOM/HETATM records of the
ligand's PDBQT (``LigandRecord.pdbqt``), i.e. heavy atoms plus polar hydrogens (HD); non-polar
hydrogens are merged into their heavy atom as AutoDock does. All per-atom arrays use that order.

Torsion tree convention (Vina's): the ligand is a tree of rigid frames. Frame 0 is the ROOT.
Frame k >= 1 is the body moved by torsion k-1. Torsions are ordered depth-first, parent before
child, so ``torsion_parent[t] < t + 1``. Torsion t rotates about the axis from atom
``torsion_atoms[t, 0]`` (in the parent frame) to atom ``torsion_atoms[t, 1]`` (the first atom of
the child frame; ``frame_of_atom[torsion_atoms[t, 1]] == t + 1``). The child axis atom lies on
the axis, so it is fixed relative to the parent frame too (Vina's branch-atom rule).
"""

from __future__ import annotations

import dataclasses
import enum

import numpy as np

SCHEMA_VERSION = 1

# --------------------------------------------------------------------------------------------
# XS atom types (AutoDock Vina 1.2), index = code stored in ``xs_types``; -1 = hydrogen/unscored.
XS_TYPES: tuple[str, ...] = (
    "C_H", "C_P", "N_P", "N_D", "N_A", "N_DA", "O_P", "O_D", "O_A", "O_DA",
    "S_P", "P_P", "F_H", "Cl_H", "Br_H", "I_H", "Si", "At", "Met_D",
)  # fmt: skip
XS_INDEX = {name: i for i, name in enumerate(XS_TYPES)}
N_XS = len(XS_TYPES)
XS_RADIUS = np.array(
    [1.9, 1.9, 1.8, 1.8, 1.8, 1.8, 1.7, 1.7, 1.7, 1.7, 2.0, 2.1, 1.5, 1.8, 2.0, 2.2, 2.2, 2.3, 1.2],
    dtype=np.float64,
)
XS_HYDROPHOBIC = np.array([n in ("C_H", "F_H", "Cl_H", "Br_H", "I_H") for n in XS_TYPES])
XS_DONOR = np.array([n in ("N_D", "N_DA", "O_D", "O_DA", "Met_D") for n in XS_TYPES])
XS_ACCEPTOR = np.array([n in ("N_A", "N_DA", "O_A", "O_DA") for n in XS_TYPES])

# AutoDock atom types hpcfold reads and writes (PDBQT columns 78-79). Index = ``ad_types`` code.
AD_TYPES: tuple[str, ...] = (
    "C", "A", "N", "NA", "OA", "S", "SA", "P", "F", "Cl", "Br", "I", "H", "HD", "HS", "Si", "At",
    "Mg", "Mn", "Zn", "Ca", "Fe", "Cu", "Na", "K", "Hg", "Co", "U", "Cd", "Ni", "Se", "N0", "OS",
    "CG0", "CG1", "CG2", "CG3", "G0", "G1", "G2", "G3",
)  # fmt: skip
AD_INDEX = {name: i for i, name in enumerate(AD_TYPES)}
# meeko's flexible-macrocycle types (Vina 1.2): a ring bond CGn-CGn is opened for the torsion
# tree and each CGn carbon carries a glue pseudo-atom Gn placed where its partner CGn was. Codes
# are AD_INDEX values; the glue index n is ``code - CG_CODE0`` or ``code - G_CODE0``.
CG_CODE0 = AD_INDEX["CG0"]
G_CODE0 = AD_INDEX["G0"]
N_GLUE = 4
METALS = frozenset({"Mg", "Mn", "Zn", "Ca", "Fe", "Cu", "Na", "K", "Hg", "Co", "U", "Cd", "Ni"})


class Reason(enum.IntEnum):
    """Why a ligand failed. Stored as an int code plus a free-text message."""

    OK = 0
    PARSE_ERROR = 1  # unparsable SMILES / SDF / PDBQT record
    EMPTY_RECORD = 2  # empty line / record without atoms
    ENCODING_ERROR = 3  # non-UTF-8 bytes
    TRUNCATED_RECORD = 4  # SDF/PDBQT record cut short
    UNSUPPORTED_ELEMENT = 5  # element Vina cannot type (B, ...)
    RADICAL = 6  # unpaired electrons
    TOO_LARGE = 7  # more heavy atoms than the configured limit
    TOO_MANY_TORSIONS = 8
    EMBED_FAILED = 9  # RDKit could not embed 3D coordinates
    METAL_COMPLEX = 10  # organometallic / coordination compound
    TYPING_ERROR = 11  # AutoDock/XS typing or torsion tree failed
    DOCK_ERROR = 20  # the docking kernel raised on this ligand's chunk (twice)
    NONFINITE_ENERGY = 21  # the kernel produced NaN/inf for this ligand
    INTERNAL_ERROR = 99


@dataclasses.dataclass(frozen=True)
class Box:
    """Search box in Angstrom (Vina convention: ``center`` and full edge lengths ``size``)."""

    center: tuple[float, float, float]
    size: tuple[float, float, float]

    def __post_init__(self):
        if len(self.center) != 3 or len(self.size) != 3:
            raise ValueError("box center and size need three values each")
        if any(not np.isfinite(v) for v in (*self.center, *self.size)):
            raise ValueError(f"box values must be finite, got {self}")
        if any(s <= 0 for s in self.size):
            raise ValueError(f"box size must be positive, got {self.size}")


@dataclasses.dataclass(frozen=True, eq=False)
class LigandRecord:
    """One prepared ligand: everything docking needs, nothing RDKit-specific.

    Shapes: n = atoms (heavy + polar H), T = torsions, P = intra pairs, H = heavy atoms,
    K = automorphisms, B = bonds. Units: Angstrom, float32.
    """

    lig_id: str
    smiles: str  # canonical isomeric SMILES, '' when unknown (PDBQT input)
    source: str  # "path:line" (1-based line of the record's first line)
    coords: np.ndarray  # (n, 3) float32, reference conformer
    ad_types: np.ndarray  # (n,) int8, index into AD_TYPES
    xs_types: np.ndarray  # (n,) int8, index into XS_TYPES; -1 for H and glue pseudo-atoms (Gn)
    charges: np.ndarray  # (n,) float32, partial charges as written in PDBQT (q column)
    frame_of_atom: np.ndarray  # (n,) int16, 0 = root, k = body of torsion k-1
    torsion_atoms: np.ndarray  # (T, 2) int32, (parent-side atom, child-side atom)
    torsion_parent: np.ndarray  # (T,) int16, parent frame of frame t+1
    intra_pairs: np.ndarray  # (P, 2) int32, i < j, scored intramolecular pairs
    bonds: np.ndarray  # (B, 3) int32: i, j, order (1, 2, 3; 4 = aromatic) among the n atoms
    n_rot: float  # Vina's N_rot (affinity divided by 1 + w * N_rot)
    automorphisms: np.ndarray  # (K, H) int16, heavy-atom permutations; row 0 = identity
    automorphisms_truncated: bool  # True when the maxMatches cap was hit or the search failed
    pdbqt: str  # PDBQT text of the prepared ligand; its ATOM lines are the n atoms, in order
    molblock: str = ""  # V2000/V3000 mol block with explicit H ('' for PDBQT input)
    mol_index: np.ndarray | None = None  # (n,) int32, atom -> molblock atom index, -1 = none

    @property
    def n_atoms(self) -> int:
        return int(self.coords.shape[0])

    @property
    def n_torsions(self) -> int:
        return int(self.torsion_atoms.shape[0])

    @property
    def heavy_index(self) -> np.ndarray:
        """(H,) indices of the heavy atoms (the atoms automorphisms permute)."""
        return np.flatnonzero(self.xs_types >= 0)

    @property
    def n_heavy(self) -> int:
        return int(np.count_nonzero(self.xs_types >= 0))


# AutoDock type -> element (Vina reads Se as S). Flexible-macrocycle types (meeko): CGn carbons
# are carbons; Gn glue pseudo-atoms get the pseudo element "G" (Vina: covalent radius 0.77, a
# heteroatom for the C_H / C_P rule, no XS type).
_AD_ELEMENT = {"A": "C", "NA": "N", "N0": "N", "OA": "O", "OS": "O", "SA": "S", "HD": "H",
               "HS": "H", "Se": "S", "CG0": "C", "CG1": "C", "CG2": "C", "CG3": "C",
               "G0": "G", "G1": "G", "G2": "G", "G3": "G"}  # fmt: skip


def ad_element(ad_type: str) -> str:
    """Element symbol of an AutoDock type (``A`` -> ``C``, ``OA`` -> ``O``, ``HD`` -> ``H``)."""
    return _AD_ELEMENT.get(ad_type, ad_type)


def is_glue(ad_types) -> np.ndarray:
    """(n,) bool: which AD_TYPES codes are glue pseudo-atoms Gn (flexible macrocycles)."""
    ad = np.asarray(ad_types, dtype=np.int64).reshape(-1)
    return (ad >= G_CODE0) & (ad < G_CODE0 + N_GLUE)


def has_glue(ad_types) -> bool:
    """True when the AD_TYPES codes include a glue pseudo-atom Gn (a flexible macrocycle)."""
    return bool(np.any(is_glue(ad_types)))


def glue_partners(ad_types, bonds) -> np.ndarray:
    """(n,) int32: for each glue pseudo-atom Gn of a flexible macrocycle, the index of the CGn
    carbon it must meet (the CGn it is *not* bonded to); every other atom maps to itself.

    ad_types (n,) AD_TYPES codes; bonds (B, 2+) atom indices. Raises ValueError when the glue
    atoms do not form meeko's pattern (each Gn bonded to one of exactly two CGn atoms).
    """
    ad = np.asarray(ad_types, dtype=np.int64).reshape(-1)
    n = ad.shape[0]
    out = np.arange(n, dtype=np.int32)
    is_g = is_glue(ad)
    if not is_g.any():
        return out
    b = np.asarray(bonds, dtype=np.int64)
    b = b.reshape(b.shape[0], -1)[:, :2] if b.size else np.zeros((0, 2), np.int64)
    bonded = {(int(i), int(j)) for i, j in b} | {(int(j), int(i)) for i, j in b}
    for g in np.flatnonzero(is_g):
        k = int(ad[g] - G_CODE0)
        cg = np.flatnonzero(ad == CG_CODE0 + k)
        own = [c for c in cg if (int(g), int(c)) in bonded]
        other = [c for c in cg if (int(g), int(c)) not in bonded]
        if cg.size != 2 or len(own) != 1 or len(other) != 1:
            raise ValueError(
                f"glue atom {g + 1} (G{k}) needs exactly two CG{k} atoms, one bonded to it; found "
                f"{cg.size} CG{k}, {len(own)} bonded"
            )
        out[g] = other[0]
    return out


@dataclasses.dataclass(frozen=True)
class Failure:
    """A ligand that could not be prepared or docked; it is stored, never dropped."""

    lig_id: str
    source: str
    smiles: str
    reason: Reason
    message: str


@dataclasses.dataclass(frozen=True, eq=False)
class ReceptorRecord:
    """Receptor heavy atoms with XS types (hydrogens only mark donors and are dropped)."""

    coords: np.ndarray  # (m, 3) float32, Angstrom
    xs_types: np.ndarray  # (m,) int8, index into XS_TYPES (no -1 entries)
    source: str  # path it came from
    sha256: str  # hash of the file's bytes (cache key for grids, provenance)


# --------------------------------------------------------------------------------------------
# Size buckets: padded (atoms, torsions, intra pairs). Drug-like ligands land in the first five.
# Steps of 8 atoms up to 48: the search's cost grows with the padded size (a 20-atom ligand
# docks ~15 % faster padded to 24 than to 32, docs/benchmarks.md), and each bucket costs only
# one compilation. A feature store records each ligand's sizes, and its reader re-derives the
# buckets from them (``bucket_indices``), so a store written with other buckets still reads.
@dataclasses.dataclass(frozen=True)
class Bucket:
    index: int
    n_atoms: int  # heavy + polar H
    n_torsions: int
    n_pairs: int

    @property
    def name(self) -> str:
        return f"a{self.n_atoms}t{self.n_torsions}"


BUCKETS: tuple[Bucket, ...] = tuple(
    Bucket(i, a, t, p)
    for i, (a, t, p) in enumerate(
        [
            (24, 8, 276),
            (32, 8, 400),
            (40, 10, 650),
            (48, 12, 900),
            (64, 16, 1600),
            (96, 24, 3600),
            (128, 32, 6400),
            (192, 48, 14000),
            (400, 96, 60000),
        ]  # fmt: skip
    )
)


def bucket_indices(n_atoms, n_torsions, n_pairs) -> np.ndarray:
    """(n,) int8 index of the first bucket each ligand fits, -1 where none does: the one bucket
    rule (``bucket_for`` applies it to one ligand; scalars give a () array)."""
    a, t, p = (np.asarray(x, np.int64) for x in (n_atoms, n_torsions, n_pairs))
    out = np.full(a.shape, -1, np.int8)
    for b in reversed(BUCKETS):  # the first bucket that fits is assigned last
        out[(a <= b.n_atoms) & (t <= b.n_torsions) & (p <= b.n_pairs)] = b.index
    return out


def bucket_for(n_atoms: int, n_torsions: int, n_pairs: int) -> Bucket | None:
    """The first bucket a ligand fits, or None when it is larger than every bucket."""
    i = int(bucket_indices(n_atoms, n_torsions, n_pairs))
    return None if i < 0 else BUCKETS[i]


TERMS: tuple[str, ...] = ("gauss1", "gauss2", "repulsion", "hydrophobic", "hbond")


@dataclasses.dataclass(frozen=True, eq=False)
class DockResult:
    """Poses of one docked ligand, best first. M = modes, n = ligand atoms."""

    lig_id: str
    coords: np.ndarray  # (M, n, 3) float32, Angstrom
    affinity: np.ndarray  # (M,) float32, kcal/mol (Vina's reported affinity)
    inter: np.ndarray  # (M,) float32
    intra: np.ndarray  # (M,) float32
    terms: np.ndarray  # (M, len(TERMS)) float32, TERMS order, intermolecular, before weighting
    seconds: float = 0.0
