"""One writer per store: a lock file that works on Lustre, GPFS and NFS (no ``flock``).

``flock``/``fcntl`` locks are absent on some parallel file systems, or local to one node (two
nodes would both "hold" them). This lock relies only on what those file systems make atomic
across nodes: creating a file with ``O_CREAT | O_EXCL`` (NFSv3+, Lustre, GPFS) and ``rename``.

* ``acquire``: ``os.open(lock, O_CREAT | O_EXCL)``; the file holds JSON ``{host, pid, token,
  t_start, t_beat, what}``. When it exists, the holder is read back and the caller is refused
  with one line naming it (host, pid, start time) and how to remove a stale lock.
* The holder refreshes ``t_beat`` every ``beat_s`` seconds from a daemon thread (a new file
  renamed over the lock, after checking the token is still its own).
* A lock is *stale* when its holder is on this host and its pid is dead, or when its heartbeat
  is older than ``stale_s`` (default 10 minutes, 20 heartbeats). A stale lock is taken over by
  renaming a new lock file over it, waiting a moment and reading it back: of several processes
  that take over at once, exactly the one whose token is in the file wins; the others are
  refused like any second writer.
* A holder whose token disappeared from the file (taken over after a long stall, or removed
  by hand) notices it on the next heartbeat; ``check()`` then raises, and the writer stops
  before it commits anything more.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import threading
import time
import uuid

from hpcfold.errors import UserError

BEAT_S = 30.0
STALE_S = 600.0
SETTLE_S = 0.2  # wait between a take-over's rename and its read-back
_HELD: set[str] = set()  # tokens of the locks this process holds


def _now_iso(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host runs (a zombie, killed but not reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def read_holder(path: str) -> dict | None:
    """The lock file's JSON, None when there is no lock; {} when it is unreadable."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


class StoreLock:
    """Exclusive writer lock ``<store>.lock`` (see the module docstring)."""

    def __init__(self, store: str, what: str, beat_s: float = BEAT_S, stale_s: float = STALE_S):
        if not (beat_s > 0 and stale_s > beat_s):
            raise ValueError(f"need 0 < beat_s < stale_s, got {beat_s}, {stale_s}")
        self.store = os.fspath(store)
        self.path = self.store + ".lock"
        self.what, self.beat_s, self.stale_s = what, float(beat_s), float(stale_s)
        self.token = uuid.uuid4().hex
        self.host = socket.gethostname()
        self.t_start = time.time()
        self.lost: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mutex = threading.Lock()

    # ------------------------------------------------------------------------ content
    def _content(self) -> bytes:
        data = {"host": self.host, "pid": os.getpid(), "token": self.token, "what": self.what,
                "t_start": self.t_start, "t_beat": time.time()}  # fmt: skip
        return json.dumps(data).encode()

    def _write_new(self, fd: int) -> None:
        try:
            os.write(fd, self._content())
            os.fsync(fd)
        finally:
            os.close(fd)

    def _replace(self) -> None:
        """Write a fresh lock file and rename it over the lock (atomic)."""
        tmp = f"{self.path}.{self.token}.tmp"
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
        self._write_new(fd)
        os.replace(tmp, self.path)

    # ------------------------------------------------------------------------ acquire
    def stale_reason(self, holder: dict) -> str | None:
        """Why ``holder`` no longer holds the lock (None when it may still be alive)."""
        if not holder:
            return "the lock file is unreadable"
        beat = float(holder.get("t_beat", 0) or 0)
        pid = int(holder.get("pid", -1))
        if holder.get("host") == self.host and not _pid_alive(pid):
            return f"process {pid} on {self.host} is gone"
        if (
            holder.get("host") == self.host
            and pid == os.getpid()
            and (holder.get("token") not in _HELD)
        ):
            return "this process left it behind and no longer holds it"
        age = time.time() - beat
        if age > self.stale_s:
            return f"its heartbeat is {age:.0f} s old (stale after {self.stale_s:.0f} s)"
        return None

    def _refusal(self, holder: dict) -> UserError:
        return UserError(
            f"{self.store} is in use by another {holder.get('what', 'writer')}: pid "
            f"{holder.get('pid')} on {holder.get('host')}, started "
            f"{_now_iso(float(holder.get('t_start', 0) or 0))} (lock {self.path}, last "
            f"heartbeat {_now_iso(float(holder.get('t_beat', 0) or 0))}); wait for it, or if "
            f"that process is dead on another node, delete {self.path}"
        )

    def acquire(self) -> StoreLock:
        """Take the lock or raise ``UserError`` naming the holder. Starts the heartbeat."""
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = read_holder(self.path)
                if holder is None:
                    continue  # released meanwhile: try again
                why = self.stale_reason(holder)
                if why is None:
                    raise self._refusal(holder) from None
                self._take_over(holder, why)
                break
            except OSError as exc:
                raise UserError(f"cannot create lock {self.path}: {exc.strerror}") from None
            self._write_new(fd)
            break
        else:
            raise UserError(f"cannot take lock {self.path}: it keeps changing")
        _HELD.add(self.token)
        self._thread = threading.Thread(target=self._beat, name="hpcfold-lock", daemon=True)
        self._thread.start()
        return self

    def _take_over(self, holder: dict, why: str) -> None:
        import logging

        self._replace()
        time.sleep(SETTLE_S)  # a concurrent taker renames within this window; the last wins
        now = read_holder(self.path)
        if not now or now.get("token") != self.token:
            raise self._refusal(now or holder)
        logging.getLogger("hpcfold").warning(
            "took over the stale lock %s of pid %s on %s: %s", self.path, holder.get("pid"),
            holder.get("host"), why,
        )  # fmt: skip

    # ------------------------------------------------------------------------ holding
    def _beat(self) -> None:
        while not self._stop.wait(self.beat_s):
            self.refresh()

    def refresh(self) -> None:
        """Renew the heartbeat (the daemon thread calls this every ``beat_s`` seconds)."""
        with self._mutex:
            if self.lost or self._stop.is_set():
                return
            holder = read_holder(self.path)
            if not holder or holder.get("token") != self.token:
                who = f"pid {holder.get('pid')} on {holder.get('host')}" if holder else "nobody"
                self.lost = f"lock {self.path} was taken over (now held by {who})"
                return
            with contextlib.suppress(OSError):  # a full disk: the next beat tries again
                self._replace()

    def check(self) -> None:
        """Raise ``UserError`` when the lock was lost (never commit without it)."""
        if self.lost:
            raise UserError(f"{self.store}: {self.lost}; stopped writing to it")

    def release(self) -> None:
        """Stop the heartbeat and delete the lock file if it is still ours."""
        self._stop.set()
        _HELD.discard(self.token)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        with self._mutex:
            holder = read_holder(self.path)
            if holder and holder.get("token") == self.token:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self.path}.{self.token}.tmp")

    def __enter__(self) -> StoreLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def is_enospc(exc: BaseException) -> bool:
    """True for a full disk or an exceeded quota (ENOSPC, EDQUOT), also when HDF5 wraps it."""
    codes = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
    if isinstance(exc, OSError) and exc.errno in codes:
        return True
    text = str(exc).lower()
    return "no space left" in text or "quota exceeded" in text
