"""Box config parsing, autobox and Vina's grid bounds."""

from __future__ import annotations

import numpy as np
import pytest

from hpcfold.boxes import autobox, box_bounds, parse_vina_config, read_vina_config, volume_warning
from hpcfold.errors import UserError
from hpcfold.types import Box


def test_read_vina_config(shared_data):
    box = read_vina_config(shared_data / "vina-example" / "1iep_receptor.box.txt")
    assert box == Box((15.19, 53.903, 16.917), (20.0, 20.0, 20.0))
    text = (
        "# comment\nreceptor = r.pdbqt\ncenter_x=1\ncenter_y = 2 # c\ncenter_z = 3\n"
        "size_x = 4\nsize_y = 5\nsize_z = 6\nexhaustiveness = 8\n"
    )
    assert parse_vina_config(text) == Box((1.0, 2.0, 3.0), (4.0, 5.0, 6.0))


@pytest.mark.parametrize(
    "text, message",
    [
        ("center_x = 1\n", "missing"),
        ("center_x = a\ncenter_y=0\ncenter_z=0\nsize_x=1\nsize_y=1\nsize_z=1\n", "not a number"),
        ("center_x = 0\ncenter_y=0\ncenter_z=0\nsize_x=-1\nsize_y=1\nsize_z=1\n", "positive"),
        ("just words\n", "key = value"),
    ],
)
def test_bad_configs(text, message):
    with pytest.raises(UserError, match=message):
        parse_vina_config(text)


def test_autobox_and_bounds(tmp_path):
    box = autobox(np.array([[0.0, 0, 0], [2, 4, 6]]), add=4.0)
    assert box.center == (1.0, 2.0, 3.0) and box.size == (10.0, 12.0, 14.0)
    lo, hi, n = box_bounds(Box((0.0, 0.0, 0.0), (20.0, 20.0, 20.0)))
    assert n.tolist() == [54, 54, 54]  # ceil(20 / 0.375)
    np.testing.assert_allclose(hi - lo, 54 * 0.375)
    with pytest.raises(UserError):
        read_vina_config(tmp_path / "nope.txt")


def test_volume_warning_above_vinas_limit():
    assert volume_warning(Box((0.0, 0.0, 0.0), (30.0, 30.0, 30.0)), "x") is None  # 27000: no
    msg = volume_warning(Box((0.0, 0.0, 0.0), (30.0, 30.0, 31.0)), "do this")
    assert "27900 A^3" in msg and "27000" in msg and msg.endswith("; do this")
