"""Progress lines and the per-rank table."""

from __future__ import annotations

import io
import logging

from hpcfold.mpi.progress import Progress, rank_table


class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


class Tty(io.StringIO):
    def isatty(self):
        return True


class ListHandler(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.records = []

    def emit(self, record):
        self.records.append(record)


def test_log_lines_when_not_a_tty():
    clock = FakeClock()
    p = Progress(100, initial=10, interval=5.0, stream=io.StringIO(), clock=clock)
    logger = logging.getLogger("hpcfold")
    handler, old_level = ListHandler(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        clock.t += 2
        p.add(20, 1)  # before the interval: no line
        assert not handler.records
        clock.t += 8
        p.add(20, 2)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    assert len(handler.records) == 1
    line = handler.records[0].getMessage()
    assert "50/100" in line and "4.00 lig/s" in line and "failed 3" in line and "ETA 00:12" in line


def test_bar_on_a_tty():
    clock = FakeClock()
    out = Tty()
    p = Progress(10, stream=out, clock=clock)
    clock.t += 1
    p.add(5, 0)
    p.close()
    text = out.getvalue()
    assert text.startswith("\r[###############---------------] 5/10") and text.endswith("\n")


def test_rank_table():
    table = rank_table(
        {
            2: {
                "host": "n1",
                "device": "cpu:1",
                "ligands": 7,
                "chunks": 2,
                "busy": 0.975,
                "kernel_s": 3.0,
                "wall_s": 3.1,
            }
        }
    )
    head, row = table.splitlines()
    assert "busy%" in head and row.split()[:5] == ["2", "n1", "cpu:1", "7", "2"]
    assert "97.5" in row
