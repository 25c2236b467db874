"""Cost of one search energy evaluation per chain: value, and value + tangent-space gradient.

    python bench/bench_energy.py [--ligand 016_412726] [--chains 128] [--repeats 7]

Times the Monte-Carlo search's objective (``engine.search_energy``: grid inter + analytic
intra, hunt caps) the way the search calls it: ``jit(vmap(...))`` over ``--chains`` random
poses of one ligand of the fabp4 set (``bench_dock.py prep-dude`` writes it under ``--work``),
ligand arrays and grid passed as arguments (not baked in as constants). Prints the minimum over
``--repeats`` timings of 40 calls, per batch and per chain, plus the parts: coordinates,
grid term, intra term (value + gradient). One XLA thread (as the engine sets it).
"""

from __future__ import annotations

import argparse
import functools
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=pathlib.Path, default=pathlib.Path("/tmp/hpcfold_bench"))
    ap.add_argument("--ligand", default="016_412726")
    ap.add_argument("--chains", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()

    import jax
    import jax.numpy as jnp
    import numpy as np

    from hpcfold.boxes import read_vina_config
    from hpcfold.chem.prepare import PrepOptions, prepare_record
    from hpcfold.chem.readers import iter_records
    from hpcfold.chem.receptor import read_receptor
    from hpcfold.dock import batch, energy, engine, kinematics, search
    from hpcfold.types import bucket_for

    target = ROOT.parent / "shared" / "data" / "dude" / "fabp4"
    pdbqt = args.work / "fabp4" / f"{args.ligand}.pdbqt"
    rec = prepare_record(next(iter_records(str(pdbqt))), PrepOptions())
    ctx = engine.make_context(read_receptor(str(target / "receptor.pdbqt")),
                              read_vina_config(target / "box.txt"), engine.SearchOptions(),
                              cache_dir=str(args.work / "cache"))  # fmt: skip
    b = bucket_for(rec.n_atoms, rec.n_torsions, len(rec.intra_pairs))
    lig = batch.pad_ligands([rec], b)
    lig = type(lig)(*(None if a is None else np.asarray(a)[0] for a in lig))
    name, weights = ctx.params.name, ctx.params.resolved_weights
    n_tors = int(np.sum(lig.tors_mask))
    keys = jax.random.split(jax.random.PRNGKey(0), args.chains)
    poses = jax.vmap(lambda k: search.random_pose(k, n_tors, b.n_torsions, ctx.lo, ctx.hi))(keys)
    xyz = jax.vmap(kinematics.pose_to_coords, in_axes=(0, None))(poses, lig)
    caps = jnp.array([10.0, 1.5])
    efn = functools.partial(engine.search_energy, name=name, weights=weights)
    print(f"{args.ligand}: {rec.n_atoms} atoms, {rec.n_torsions} torsions, bucket {b.name}, "
          f"{args.chains} chains")  # fmt: skip

    def timed(label, f, *a, n=40):
        f = jax.jit(f)
        jax.block_until_ready(f(*a))
        best = float("inf")
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            for _ in range(n):
                r = f(*a)
            jax.block_until_ready(r)
            best = min(best, (time.perf_counter() - t0) / n)
        print(f"{label:34s} {best * 1e3:7.3f} ms/batch {best / args.chains * 1e6:7.2f} us/chain")

    def pairs(lg):
        return energy.intra_pairs(lg, name, weights)

    def value(ps, lg, grid):
        return jax.vmap(lambda p: efn(p, (lg, grid, pairs(lg)), caps))(ps)

    def value_grad(ps, lg, grid):
        def one(p):
            return kinematics.tangent_grad(lambda r: efn(r, (lg, grid, pairs(lg)), caps), p)

        return jax.vmap(one)(ps)

    def grid_vg(xs, lg, grid):
        return jax.vmap(jax.value_and_grad(lambda x: energy.inter_grid(x, lg, grid, 1.5)))(xs)

    def intra_vg(xs, lg):
        f = lambda x: energy.intra_analytic(x, lg, name, weights, 10.0, pairs(lg))  # noqa: E731
        return jax.vmap(jax.value_and_grad(f))(xs)

    timed("energy (value)", value, poses, lig, ctx.grid)
    timed("energy + tangent gradient", value_grad, poses, lig, ctx.grid)
    timed("  coordinates", lambda ps, lg: jax.vmap(kinematics.pose_to_coords, (0, None))(ps, lg),
          poses, lig)  # fmt: skip
    timed("  grid term, value + gradient", grid_vg, xyz, lig, ctx.grid)
    timed("  intra term, value + gradient", intra_vg, xyz, lig)


if __name__ == "__main__":
    main()
