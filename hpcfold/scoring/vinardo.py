"""Vinardo (Quiroga & Villarreal 2016): Vina's form with other radii, one Gaussian, no gauss2."""

from hpcfold.scoring.base import ScoringFunction, gauss, ramp, repulsion

VINARDO = ScoringFunction(
    name="vinardo",
    terms=(
        gauss(0.0, 0.8, "gauss1"),
        repulsion(),
        ramp(2.5, 0.0, "hydrophobic", "hydrophobic"),
        ramp(0.0, -0.6, "hbond", "hbond"),
    ),
    weights=(-0.045, 0.0, 0.8, -0.035, -0.6, 0.05846),
    radii=(
        ("C_H", 2.0),
        ("C_P", 2.0),
        ("N_P", 1.7),
        ("N_D", 1.7),
        ("N_A", 1.7),
        ("N_DA", 1.7),
        ("O_P", 1.6),
        ("O_D", 1.6),
        ("O_A", 1.6),
        ("O_DA", 1.6),
    ),  # fmt: skip
)
