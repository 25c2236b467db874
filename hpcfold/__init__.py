"""hpcfold: MPI-native virtual screening (RDKit prep, JAX Vina/Vinardo docking, HDF5 stores)."""

__version__ = "0.1.0"
