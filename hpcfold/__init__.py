"""hpcfold: MPI-native virtual screening (RDKit prep, JAX docking with Vina-family scoring, HDF5 stores).

``hpcfold.api`` is the Python API (``from hpcfold import api``; its names are re-exported here,
except ``dock``, which is the ``hpcfold.dock`` package: use ``hpcfold.api.dock``). It is
imported on first use, so ``import hpcfold`` stays cheap and imports no JAX.
"""

__version__ = "0.1.0"

_API = ("Docker", "ScoringFunction", "load_receptor", "make_box", "optimize",
        "prepare_ligands", "read_poses", "score", "scoring_function", "write_sdf")  # fmt: skip


def __getattr__(name: str):
    import importlib

    if name == "api":
        return importlib.import_module("hpcfold.api")
    if name in _API:
        return getattr(importlib.import_module("hpcfold.api"), name)
    raise AttributeError(f"module 'hpcfold' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "api", *_API])
