"""Benchmark: pose evaluations per second (energy + gradient, grid path) beside AutoDock Vina.

For ligands of about 20 / 40 / 80 heavy atoms (redock42 / Vina example complexes) and batches of
1 / 64 / 4096 poses, times ``jit(vmap(tangent_grad(grid energy + intra)))`` (what the BFGS of the
search evaluates) and reports the median over repeats. Vina's rate for the same work: wall time
of ``vina.Vina.optimize()`` (grid BFGS from the same kind of pose, 0.375 A maps) divided by the
number of energy+gradient evaluations its BFGS makes, counted by replaying the identical algorithm
with hpcfold (``local.local_optimize_grid`` follows Vina's trajectory; evaluation count via a
host callback). Prints a Markdown table.

    python bench/bench_scoring.py [--batches 1 64 4096] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import statistics
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from hpcfold.boxes import autobox  # noqa: E402
from hpcfold.chem.pdbqt import parse_ligand_pdbqt, write_pose_pdbqt  # noqa: E402
from hpcfold.chem.receptor import read_receptor  # noqa: E402
from hpcfold.dock import batch, energy, grids, kinematics, local, optimize, tables  # noqa: E402
from hpcfold.types import Box, bucket_for  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = pathlib.Path(os.environ.get("HPCFOLD_SHARED", ROOT.parent / "shared")) / "data"


def pick_ligands(targets=(20, 40, 80)):
    """(name, receptor path, LigandRecord) closest to each heavy-atom target."""
    cands = []
    for d in sorted((DATA / "redock42").iterdir()):
        if d.is_dir():
            cands.append((d.name, d / "receptor.pdbqt", d / "ligand_xray.pdbqt"))
    ex = DATA / "vina-example"
    cands.append(("1iep", ex / "1iep_receptor.pdbqt", ex / "1iep_ligand.pdbqt"))
    recs = [(n, r, parse_ligand_pdbqt(lp.read_text(), n, str(lp))) for n, r, lp in cands]
    return [min(recs, key=lambda x: abs(x[2].n_heavy - t)) for t in targets]


def random_poses(la, n, rng):
    base = np.asarray(kinematics.identity_pose(la))
    t = la.tors_atoms.shape[0]
    pos = base[:3] + rng.normal(scale=1.0, size=(n, 3))
    q = rng.normal(size=(n, 4))
    tors = rng.uniform(-np.pi, np.pi, size=(n, t))
    return jnp.asarray(np.concatenate([pos, q, tors], axis=1), jnp.float32)


def time_hpcfold(la, grid, tb, batch_size, repeats, rng):
    lig = jax.tree.map(lambda a: jnp.asarray(np.stack([a] * batch_size)), la)

    @jax.jit
    def evaluate(poses, lig):
        def one(p, lg):
            return kinematics.tangent_grad(
                lambda q: local.grid_energy(q, lg, grid, tb, cap=10.0), p
            )

        return jax.vmap(one)(poses, lig)

    poses = random_poses(la, batch_size, rng)
    e, g = evaluate(poses, lig)
    jax.block_until_ready(g)
    assert np.all(np.isfinite(np.asarray(e)))
    times = []
    for _ in range(repeats):
        poses = random_poses(la, batch_size, rng)
        t0 = time.perf_counter()
        jax.block_until_ready(evaluate(poses, lig))
        times.append(time.perf_counter() - t0)
    return batch_size / statistics.median(times)


def time_vina(rec_path, lig, box, tb, grid, n_poses, rng):
    """Vina's energy+gradient evaluations per second inside optimize() (see module doc)."""
    import vina

    v = vina.Vina(sf_name="vina", verbosity=0)
    v.set_receptor(str(rec_path))
    v.compute_vina_maps(center=list(box.center), box_size=list(box.size))
    la = batch.ligand_arrays(lig)
    counter = {"n": 0}

    def count(_):
        counter["n"] += 1

    @jax.jit
    def run(p, s, lg):
        def fg(x):
            jax.debug.callback(count, x[0])
            return kinematics.tangent_grad(lambda q: local.grid_energy(q, lg, grid, tb), x)

        return optimize.bfgs(fg, p, s, increment=optimize.pose_increment)

    steps = int(local.default_max_steps(lig.n_atoms))
    total_t, total_n = 0.0, 0
    base = np.asarray(kinematics.identity_pose(la))
    for _ in range(n_poses):
        pose = base.copy()
        pose[:3] += rng.normal(scale=0.5, size=3)
        pose[7:] += rng.uniform(-0.3, 0.3, size=lig.n_torsions)
        xyz = np.asarray(kinematics.pose_to_coords(jnp.asarray(pose, jnp.float32), la))
        v.set_ligand_from_string(write_pose_pdbqt(lig, xyz, []))
        t0 = time.perf_counter()
        v.optimize()
        total_t += time.perf_counter() - t0
        la_pose = la._replace(coords=xyz.astype(np.float32))
        counter["n"] = 0
        jax.block_until_ready(run(kinematics.identity_pose(la_pose), jnp.int32(steps), la_pose))
        total_n += counter["n"]
    return total_n / total_t, total_n / n_poses


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 64, 4096])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--vina-poses", type=int, default=5)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    tb = tables.build_tables(tables.make_params("vina"))
    rows = []
    for name, rec_path, lig in pick_ligands():
        rec = read_receptor(rec_path)
        box = autobox(lig.coords, add=6.0)
        box = Box(box.center, tuple(max(s, 16.0) for s in box.size))
        grid = grids.compute_grid(batch.receptor_arrays(rec, box), box, tb)
        bucket = bucket_for(lig.n_atoms, lig.n_torsions, int(lig.intra_pairs.shape[0]))
        la = jax.tree.map(lambda a: a[0], batch.pad_ligands([lig], bucket))
        rates = {b: time_hpcfold(la, grid, tb, b, args.repeats, rng) for b in args.batches}
        vrate, vevals = time_vina(rec_path, lig, box, tb, grid, args.vina_poses, rng)
        rows.append((name, lig.n_heavy, lig.n_torsions, bucket.name, rates, vrate, vevals))
        print(f"# {name}: done", file=sys.stderr, flush=True)
    _ = energy  # the benchmarked kernels live in energy / kinematics / optimize
    head = " | ".join(f"batch {b}" for b in args.batches)
    print(
        f"date {time.strftime('%Y-%m-%d')}, {platform.node()}, {os.cpu_count()} CPU, "
        f"jax {jax.__version__} ({jax.default_backend()}), median of {args.repeats}"
    )
    print()
    print(f"| ligand | heavy atoms | torsions | bucket | {head} | Vina optimize() |")
    print("|---|---|---|---|" + "---|" * len(args.batches) + "---|")
    for name, heavy, tors, bname, rates, vrate, vevals in rows:
        cells = " | ".join(f"{rates[b]:,.0f}" for b in args.batches)
        print(
            f"| {name} | {heavy} | {tors} | {bname} | {cells} | {vrate:,.0f} "
            f"({vevals:.0f} evals/optimize) |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
