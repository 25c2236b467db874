"""Progress of ``screen`` (rank 0) and ``dock``: a live bar on a terminal, periodic plain lines
otherwise (log lines for ``screen``, whose logs carry rank and time), a per-rank table."""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time

LOG = logging.getLogger("hpcfold")


class Progress:
    """Counts ligands done/failed out of ``total``; ``initial`` were done by an earlier run.

    ``plain``: off a terminal, write the lines to ``stream`` instead of the ``hpcfold`` log.
    ``enabled=False``: only ``message`` lines are written. ``status``: text shown after the
    counts (e.g. what is compiling); ``ticking()`` redraws the line from a thread meanwhile, so
    a long compilation shows a spinner and its elapsed time."""

    def __init__(
        self,
        total: int,
        initial: int = 0,
        initial_failed: int = 0,
        interval: float = 10.0,
        stream=None,
        clock=time.monotonic,
        plain: bool = False,
        enabled: bool = True,
    ):
        self.total, self.initial = total, initial
        self.done, self.failed = initial, initial_failed
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = 0.2 if self.tty else interval
        self.clock = clock
        self.t0 = clock()
        self.last = self.t0
        self.plain, self.enabled = plain, enabled
        self._status, self._since, self._spin, self._lock = "", self.t0, 0, threading.Lock()
        self.waiting = ""  # what the job waits for, when it waits long (set by the scheduler)

    @property
    def status(self) -> str:
        return self._status

    @status.setter
    def status(self, text: str) -> None:
        if text != self._status:
            self._status, self._since = text, self.clock()

    def set_waiting(self, text: str) -> None:
        """Say in the progress line what the job is waiting for ("" when nothing long)."""
        self.waiting = text

    def add(self, n_items: int, n_failed: int) -> None:
        """``n_items`` ligands more are accounted for, ``n_failed`` of them failed."""
        self.done += n_items
        self.failed += n_failed
        self.tick()

    def rate(self) -> float:
        dt = self.clock() - self.t0
        return (self.done - self.initial) / dt if dt > 0 else 0.0

    def line(self) -> str:
        rate = self.rate()
        left = self.total - self.done
        eta = _fmt_time(left / rate) if rate > 0 else "--:--"
        pct = 100.0 * self.done / self.total if self.total else 100.0
        status = (
            f" | {self._status} {_fmt_time(self.clock() - self._since)}" if self._status else ""
        )
        text = (
            f"{self.done}/{self.total} ligands ({pct:5.1f}%) {rate:7.2f} lig/s "
            f"ETA {eta} failed {self.failed}{status}"
        )
        return f"{text}; {self.waiting}" if self.waiting else text

    def tick(self, force: bool = False) -> None:
        with self._lock:
            now = self.clock()
            if not self.enabled or (not force and now - self.last < self.interval):
                return
            self.last = now
            if self.tty:
                width = 30
                filled = int(width * self.done / self.total) if self.total else width
                bar = "#" * filled + "-" * (width - filled)
                self._spin += 1
                spin = " " + "|/-\\"[self._spin % 4] if self._status else ""
                self.stream.write(f"\r[{bar}] {self.line()}{spin}\033[K")
                self.stream.flush()
            elif self.plain:
                self.stream.write(f"progress: {self.line()}\n")
                self.stream.flush()
            else:
                LOG.info("progress: %s", self.line())

    def message(self, text: str) -> None:
        """A line of its own (above the bar on a terminal), shown even when not ``enabled``."""
        with self._lock:
            self.stream.write(("\r\033[K" if self.tty and self.enabled else "") + text + "\n")
            self.stream.flush()
        self.tick(force=True)

    @contextlib.contextmanager
    def ticking(self, period: float = 0.2):
        """Redraw the bar every ``period`` s (plain lines every ``interval``) in a thread while
        the body runs, e.g. while the main thread waits on a compilation."""
        stop = threading.Event()

        def run() -> None:
            while not stop.wait(period):
                self.tick()

        thread = threading.Thread(target=run, name="hpcfold-progress", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join()

    def close(self) -> None:
        self.tick(force=True)
        if self.tty and self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def rank_table(stats: dict[int, dict]) -> str:
    """Per-rank summary: ligands, chunks, busy %, kernel seconds, device, host."""
    head = f"{'rank':>5} {'host':<12} {'device':<10} {'ligands':>8} {'chunks':>7} "
    head += f"{'errors':>6} {'busy%':>6} {'kernel_s':>9} {'wall_s':>8} {'first_s':>8}"
    rows = [head]
    for rank in sorted(stats):
        s = stats[rank]
        first = s.get("first_result_s")
        rows.append(
            f"{rank:>5} {str(s.get('host', '')):<12} {str(s.get('device', '')):<10} "
            f"{s.get('ligands', 0):>8} {s.get('chunks', 0):>7} {s.get('errors', 0):>6} "
            f"{100 * s.get('busy', 0.0):>6.1f} {s.get('kernel_s', 0.0):>9.1f} "
            f"{s.get('wall_s', 0.0):>8.1f} {first if first is not None else 0.0:>8.1f}"
        )
    return "\n".join(rows)


def _fmt_time(seconds: float) -> str:
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"
