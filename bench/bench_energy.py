"""Cost of one search energy evaluation per chain: value, and value + tangent-space gradient.

    python bench/bench_energy.py [--ligand 016_412726] [--chains 64] [--repeats 7]

Times the Monte-Carlo search's objective on ``--chains`` poses of one ligand of the fabp4 set
(``bench_dock.py prep-dude`` writes it under ``--work``), ligand arrays and grid passed as
arguments (not baked in as constants), two ways: the search's kernel (``dock.kernel``: all
chains at once, chains last, closed-form gradient) and the per-chain definition
(``search.search_energy`` under ``vmap``, gradient by autodiff), which the kernel equals
(tests/dock/test_kernel.py). Each figure is the minimum over ``--repeats`` runs of 20
evaluations inside one compiled loop (so call overhead does not count), per chain; the kernel
rows also give its parts. One XLA thread (as the engine sets it). Poses: the reference
conformer at the box centre, turned at random, torsions perturbed (energies a search sees).
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
    from hpcfold.dock import batch, context, energy, kernel, kinematics, presets, search
    from hpcfold.types import bucket_for

    target = ROOT.parent / "shared" / "data" / "dude" / "fabp4"
    pdbqt = args.work / "fabp4" / f"{args.ligand}.pdbqt"
    rec = prepare_record(next(iter_records(str(pdbqt))), PrepOptions())
    ctx = context.make_context(read_receptor(str(target / "receptor.pdbqt")),
                              read_vina_config(target / "box.txt"), presets.SearchOptions(),
                              cache_dir=str(args.work / "cache"))  # fmt: skip
    b = bucket_for(rec.n_atoms, rec.n_torsions, len(rec.intra_pairs))
    lig = batch.pad_ligands([rec], b)
    lig = type(lig)(*(None if a is None else np.asarray(a)[0] for a in lig))
    name, weights = ctx.params.name, ctx.params.resolved_weights
    c = args.chains
    rng = np.random.default_rng(0)
    ident = np.asarray(kinematics.identity_pose(lig))
    centre = np.asarray(lig.coords)[np.asarray(lig.atom_mask)].mean(axis=0)
    p = np.tile(ident, (c, 1))
    p[:, :3] += 0.5 * (ctx.lo + ctx.hi) - centre + rng.normal(0, 1.0, (c, 3))
    q = rng.normal(size=(c, 4))
    p[:, 3:7] = q / np.linalg.norm(q, axis=1, keepdims=True)
    p[:, 7:] = np.where(np.asarray(lig.tors_mask), rng.normal(0, 0.5, (c, b.n_torsions)), 0)
    poses = jnp.asarray(p, jnp.float32)
    caps = jnp.array([10.0, 1.5])
    efn = functools.partial(search.search_energy, name=name, weights=weights)
    kd = jax.jit(lambda lg, g: kernel.kernel_data(lg, g, name, weights))(lig, ctx.grid)
    print(f"{args.ligand}: {rec.n_atoms} atoms, {rec.n_torsions} torsions, bucket {b.name}, "
          f"{c} chains")  # fmt: skip

    def timed(label, f, *a, n=20):
        def run(ps, *rest):  # n evaluations in one compiled loop, each on moved poses
            def body(k, acc):
                out = f(ps + k.astype(ps.dtype) * 1e-6, *rest)
                return acc + sum(jnp.sum(o) for o in jax.tree.leaves(out))

            return jax.lax.fori_loop(0, n, body, jnp.float32(0))

        g = jax.jit(run)
        jax.block_until_ready(g(*a))
        best = float("inf")
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            jax.block_until_ready(g(*a))
            best = min(best, (time.perf_counter() - t0) / n)
        print(f"{label:40s} {best / c * 1e6:7.2f} us/chain")

    def kcoords(ps, d):
        return kernel.coordinates(ps, d.lig, d.topo)[0]

    def old_value(ps, lg, grid):
        pp = energy.intra_pairs(lg, name, weights)
        return jax.vmap(lambda q: efn(q, (lg, grid, pp), caps))(ps)

    def old_value_grad(ps, lg, grid):
        pp = energy.intra_pairs(lg, name, weights)
        return jax.vmap(lambda q: kinematics.tangent_grad(lambda r: efn(r, (lg, grid, pp), caps),
                                                          q))(ps)  # fmt: skip

    timed("kernel: value", lambda ps, d: kernel.energy_batch(ps, d, caps, name=name,
                                                            weights=weights), poses, kd)  # fmt: skip
    timed("kernel: value + tangent gradient", lambda ps, d: kernel.energy_and_grad_batch(
        ps, d, caps, name=name, weights=weights), poses, kd)  # fmt: skip
    timed("  coordinates", kcoords, poses, kd)
    timed("  + grid term, value + forces", lambda ps, d: kernel._grid(
        kcoords(ps, d), d.lig, d.grid, 1.5, 1e6, True), poses, kd)  # fmt: skip
    timed("  + intra term, value + forces", lambda ps, d: kernel._intra(
        kcoords(ps, d), d.pairs, name, weights[:5], 10.0, True), poses, kd)  # fmt: skip
    timed("per-chain definition (vmap): value", old_value, poses, lig, ctx.grid)
    timed("per-chain definition (vmap): value + grad", old_value_grad, poses, lig, ctx.grid)


if __name__ == "__main__":
    main()
