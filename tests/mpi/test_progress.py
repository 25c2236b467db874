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


def test_plain_lines_messages_and_a_status_while_ticking():
    """``dock``'s use: plain lines on a stream that is not a terminal, messages of their own,
    and a status (what compiles) redrawn with its elapsed time by the ticking thread."""
    import time

    out = io.StringIO()
    p = Progress(4, interval=0.01, stream=out, plain=True)
    p.message("compiling the docking kernel for bucket a24t8")
    p.status = "compiling bucket a24t8"
    with p.ticking(period=0.01):
        time.sleep(0.1)
    p.status = ""
    p.add(4, 1)
    p.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "compiling the docking kernel for bucket a24t8"
    assert any(ln.endswith("| compiling bucket a24t8 00:00") for ln in lines[1:])
    assert lines[-1].startswith("progress: 4/4 ligands (100.0%)") and "failed 1" in lines[-1]
    quiet = io.StringIO()
    q = Progress(2, stream=quiet, plain=True, enabled=False)
    q.add(2, 0)
    q.message("compiling")
    q.close()
    assert quiet.getvalue() == "compiling\n"
    tty = Tty()
    t = Progress(2, stream=tty)
    t.status = "compiling"
    t.message("note")
    assert (
        tty.getvalue().startswith("\r\033[Knote\n\r[") and " | compiling 00:00 " in tty.getvalue()
    )
