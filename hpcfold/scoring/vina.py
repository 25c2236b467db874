"""AutoDock Vina's scoring function (Trott & Olson 2010; Vina 1.2 defaults)."""

from hpcfold.scoring.base import ScoringFunction, gauss, ramp, repulsion

VINA = ScoringFunction(
    name="vina",
    terms=(
        gauss(0.0, 0.5, "gauss1"),
        gauss(3.0, 2.0, "gauss2"),
        repulsion(),
        ramp(1.5, 0.5, "hydrophobic", "hydrophobic"),
        ramp(0.0, -0.7, "hbond", "hbond"),
    ),
    weights=(-0.035579, -0.005156, 0.840245, -0.035069, -0.587439, 0.05846),
)
