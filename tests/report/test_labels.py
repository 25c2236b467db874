"""Activity labels from file names and from an id,label CSV."""

from __future__ import annotations

import pytest

from hpcfold.errors import UserError
from hpcfold.report.labels import label_of_name, parse_label, read_labels_csv


def test_label_of_name():
    assert label_of_name("/data/dude/fabp4/actives.smi") is True
    assert label_of_name("actives_final.ism") is True
    assert label_of_name("decoys_final.ism.gz") is False
    assert label_of_name("/x/inactive_decoys.sdf") is False  # 'decoy' wins over 'active'
    assert label_of_name("/actives/library.smi") is None  # the folder does not count
    assert label_of_name("zinc_lib.smi") is None


def test_parse_label():
    assert parse_label(" Active ") is True and parse_label("1") is True
    assert parse_label("decoy") is False and parse_label("0") is False
    with pytest.raises(UserError, match="unknown activity label"):
        parse_label("maybe")


def test_read_labels_csv(tmp_path):
    p = tmp_path / "labels.csv"
    p.write_text("id,label\nA1,active\n# comment\n\nD1,decoy\nD2,0\n")
    assert read_labels_csv(str(p)) == {"A1": True, "D1": False, "D2": False}
    p.write_text("A1,1\n")  # no header
    assert read_labels_csv(str(p)) == {"A1": True}
    p.write_text("id,label\nA1\n")
    with pytest.raises(UserError, match="expected 'id,label'"):
        read_labels_csv(str(p))
    with pytest.raises(UserError, match="not found"):
        read_labels_csv(str(tmp_path / "missing.csv"))


def test_first_row_labelled_active_is_data_not_a_header(tmp_path):
    p = tmp_path / "labels.csv"
    p.write_text("A1,active\nD1,decoy\n")
    assert read_labels_csv(str(p)) == {"A1": True, "D1": False}
    p.write_text("# a comment first\nA1,active\nD1,0\n")
    assert read_labels_csv(str(p)) == {"A1": True, "D1": False}
    p.write_text("name,activity\nA1,active\n")
    assert read_labels_csv(str(p)) == {"A1": True}
