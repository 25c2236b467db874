"""Cost of one search energy evaluation per chain: value, and value + tangent-space gradient.

    python bench/bench_energy.py [--ligand 016_412726] [--chains 64] [--repeats 7]
                                 [--baseline REV] [--no-definition]

Times the Monte-Carlo search's objective on ``--chains`` poses of one ligand of the fabp4 set
(``bench_dock.py prep-dude`` writes it under ``--work``), ligand arrays and grid passed as
arguments (not baked in as constants), two ways: the search's kernel (``dock.kernel``: all
chains at once, chains last, closed-form gradient) and the per-chain definition
(``search.search_energy`` under ``vmap``, gradient by autodiff), which the kernel equals
(tests/dock/test_kernel.py). ``--baseline REV`` also times ``hpcfold/dock/kernel.py`` as it is
at git revision REV, beside the working tree's, with the ratio: on a shared core only figures
from one run compare. Each figure is the minimum over ``--repeats`` rounds of 20 evaluations
inside one compiled loop (so call overhead does not count), per chain, in CPU seconds of this
process (on a core shared with other jobs wall time counts their turns too); every round runs
each row once, in turn, so that load on the core spreads over all rows alike. The kernel rows also
give its parts (cumulative). One XLA thread (as the engine sets it). Poses: the reference
conformer at the box centre, turned at random, torsions perturbed (energies a search sees).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _kernel_at(rev: str):
    """The module ``hpcfold/dock/kernel.py`` as it is at git revision ``rev``."""
    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:hpcfold/dock/kernel.py"],
                         check=True, capture_output=True, text=True).stdout  # fmt: skip
    path = pathlib.Path(tempfile.mkdtemp()) / "kernel_baseline.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("kernel_baseline", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=pathlib.Path, default=pathlib.Path("/tmp/hpcfold_bench"))
    ap.add_argument("--ligand", default="016_412726")
    ap.add_argument("--chains", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--baseline", default="", help="git revision of a kernel.py to time beside")
    ap.add_argument("--no-definition", action="store_true", help="skip the per-chain rows")
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
    print(f"{args.ligand}: {rec.n_atoms} atoms, {rec.n_torsions} torsions, "
          f"{len(rec.intra_pairs)} pairs, bucket {b.name} ({b.n_pairs} pairs), {c} chains")  # fmt: skip

    def compiled(f, *a, n=20):
        def run(ps, *rest):  # n evaluations in one compiled loop, each on moved poses
            def body(k, acc):
                out = f(ps + k.astype(ps.dtype) * 1e-6, *rest)
                return acc + sum(jnp.sum(o) for o in jax.tree.leaves(out))

            return jax.lax.fori_loop(0, n, body, jnp.float32(0))

        g = jax.jit(run)
        jax.block_until_ready(g(*a))
        return lambda: jax.block_until_ready(g(*a))

    def kernel_rows(mod, tag):
        kd = jax.jit(lambda lg, g: mod.kernel_data(lg, g, name, weights))(lig, ctx.grid)

        def kcoords(ps, d):
            return mod.coordinates(ps, d.lig, d.topo)[0]

        def grid_term(ps, d):
            return mod._grid(kcoords(ps, d), d.lig, d.grid, 1.5, 1e6, True)

        def intra_term(ps, d):
            return grid_term(ps, d), mod._intra(kcoords(ps, d), d.pairs, name, weights[:5],
                                                10.0, True)  # fmt: skip

        fns = {
            "kernel: value": lambda ps, d: mod.energy_batch(
                ps, d, caps, name=name, weights=weights
            ),  # fmt: skip
            "kernel: value + tangent gradient": lambda ps, d: mod.energy_and_grad_batch(
                ps, d, caps, name=name, weights=weights
            ),  # fmt: skip
            "  coordinates": kcoords,
            "  + grid term, value + forces": grid_term,
            "  + intra term, value + forces": intra_term,
        }
        return [(label, tag, compiled(f, poses, kd)) for label, f in fns.items()]

    def old_value(ps, lg, grid):
        pp = energy.intra_pairs(lg, name, weights)
        return jax.vmap(lambda q: efn(q, (lg, grid, pp), caps))(ps)

    def old_value_grad(ps, lg, grid):
        pp = energy.intra_pairs(lg, name, weights)
        return jax.vmap(lambda q: kinematics.tangent_grad(lambda r: efn(r, (lg, grid, pp), caps),
                                                          q))(ps)  # fmt: skip

    rows = kernel_rows(kernel, "new")
    if args.baseline:
        rows += kernel_rows(_kernel_at(args.baseline), "base")
    if not args.no_definition:
        rows += [("per-chain definition (vmap): value", "new", compiled(old_value, poses, lig,
                                                                        ctx.grid)),
                 ("per-chain definition (vmap): value + grad", "new",
                  compiled(old_value_grad, poses, lig, ctx.grid))]  # fmt: skip
    best = {(label, tag): float("inf") for label, tag, _ in rows}
    for _ in range(args.repeats):
        for label, tag, go in rows:
            t0 = time.process_time()
            go()
            best[label, tag] = min(best[label, tag], (time.process_time() - t0) / 20 / c * 1e6)
    head = f"{'us per chain':42s} {'kernel':>8s}"
    if args.baseline:
        head += f" {'at ' + args.baseline[:10]:>14s} {'ratio':>6s}"
    print(head)
    for label in dict.fromkeys(label for label, _, _ in rows):
        line = f"{label:42s} {best[label, 'new']:8.2f}"
        if (label, "base") in best:
            line += f" {best[label, 'base']:14.2f} {best[label, 'new'] / best[label, 'base']:6.2f}"
        print(line)


if __name__ == "__main__":
    main()
