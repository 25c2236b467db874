"""Builds small, internally consistent LigandRecords by hand (numpy only) for the store tests.

Also a script, run as a subprocess by the tests: ``features OUT N RUN [RANK SIZE]`` writes
ligands RANK, RANK + SIZE, ... < N; ``results OUT N`` appends N results in chunks of 5 (printing
"committed K" lines); ``read OUT CHUNK`` reads every chunk of a finalized feature store.
"""

from __future__ import annotations

import sys

import numpy as np

from hpcfold.types import DockResult, Failure, LigandRecord, Reason


def make_record(i: int, n_atoms: int | None = None, n_tors: int | None = None, lig_id=None):
    """Deterministic record number ``i``: a chain of n atoms, one H donor, T torsions."""
    rng = np.random.default_rng(i)
    n = int(n_atoms if n_atoms is not None else 6 + i % 20)
    t = int(n_tors if n_tors is not None else min(i % 5, n - 2))
    coords = rng.normal(size=(n, 3)).astype(np.float32) * 3
    xs = rng.integers(0, 19, size=n).astype(np.int8)
    xs[-1] = -1  # one polar hydrogen
    ad = rng.integers(0, 12, size=n).astype(np.int8)
    ad[-1] = 13
    frame = np.zeros(n, np.int16)
    tors_atoms = np.array([[k, k + 1] for k in range(t)], np.int32).reshape(t, 2)
    for k in range(t):
        frame[k + 1 :] = k + 1
    pairs = np.array([[a, b] for a in range(n) for b in range(a + 3, n)], np.int32).reshape(-1, 2)
    bonds = np.array([[k, k + 1, 1 + k % 4] for k in range(n - 1)], np.int32).reshape(-1, 3)
    h = int(np.count_nonzero(xs >= 0))
    auto = np.stack([np.arange(h), np.arange(h)[::-1]]).astype(np.int16)
    return LigandRecord(
        lig_id=lig_id if lig_id is not None else f"L{i}",
        smiles="C" * (1 + i % 7) + "O",
        source=f"lib.smi:{i + 1}",
        coords=coords,
        ad_types=ad,
        xs_types=xs,
        charges=rng.normal(size=n).astype(np.float32),
        frame_of_atom=frame,
        torsion_atoms=tors_atoms,
        torsion_parent=np.arange(t, dtype=np.int16),
        intra_pairs=pairs,
        bonds=bonds,
        n_rot=float(t) + 0.5,
        automorphisms=auto,
        automorphisms_truncated=bool(i % 2),
        pdbqt=f"REMARK lig {i}\n" + "".join(f"ATOM  {k:5d}  C\n" for k in range(n)),
        molblock="" if i % 3 == 0 else f"mol {i}\nM  END\n",
        mol_index=None if i % 3 == 0 else np.arange(n, dtype=np.int32),
    )


def make_item(i: int):
    """Every 7th ligand fails in prep, the others are records."""
    if i % 7 == 3:
        return Failure(f"L{i}", f"lib.smi:{i + 1}", "C[", Reason.PARSE_ERROR, f"bad smiles {i}")
    return make_record(i)


def make_result(i: int, n_atoms: int = 9, modes: int = 3) -> DockResult | Failure:
    """A docking result (or every 5th a Failure) for ligand ``i``."""
    if i % 5 == 4:
        return Failure(f"L{i}", f"lib.smi:{i + 1}", "CO", Reason.DOCK_ERROR, f"boom {i}")
    rng = np.random.default_rng(1000 + i)
    m = 1 + i % modes
    aff = np.sort(rng.uniform(-12, -4, size=m)).astype(np.float32)
    return DockResult(
        lig_id=f"L{i}",
        coords=rng.normal(size=(m, n_atoms + i % 4, 3)).astype(np.float32),
        affinity=aff,
        inter=aff - 1,
        intra=np.full(m, -0.5, np.float32),
        terms=rng.normal(size=(m, 5)).astype(np.float32),
        seconds=0.01 * i,
    )


def records_equal(a: LigandRecord, b: LigandRecord) -> bool:
    for name in LigandRecord.__dataclass_fields__:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            if x is None or y is None or x.shape != y.shape or not np.array_equal(x, y):
                return False
            if x.dtype.kind != y.dtype.kind:
                return False
        elif x != y:
            return False
    return True


def _main(argv: list[str]) -> None:  # pragma: no cover - run as a subprocess by the tests
    kind, out, n = argv[0], argv[1], int(argv[2])
    if kind == "features":
        from hpcfold.store.features import FeatureWriter, completed_keys

        rank, size = (int(argv[4]), int(argv[5])) if len(argv) > 5 else (0, 1)
        done = completed_keys(out)
        w = FeatureWriter(out, rank, argv[3], ["lib.smi"], batch_size=7)
        for i in range(rank, n, size):
            if (0, i) not in done:
                w.add((0, i), make_item(i))
        w.close()
    elif kind == "read":
        from hpcfold.store.features import FeatureStore

        with FeatureStore(out) as store:
            got = sum(len(store.read(c.indices)) for c in store.chunks(n))
        print("read", got, flush=True)
        return
    else:
        from hpcfold.store.results import ResultsWriter

        w = ResultsWriter(out, {"n_ligands": n, "receptor_sha256": "abc"}, min_compact_rows=0)
        done = set(w.done_indices().tolist())
        todo = [i for i in range(n) if i not in done]
        for s in range(0, len(todo), 5):
            idx = np.array(todo[s : s + 5])
            w.append(idx, [make_result(i) for i in idx], {"chunk_id": s, "rank": 1})
            print("committed", s, flush=True)
        w.close()
    print("done", flush=True)


if __name__ == "__main__":
    _main(sys.argv[1:])
