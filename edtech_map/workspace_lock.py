"""One edtech-map run per workspace: a lock file that a second run reads and explains.

:class:`WorkspaceLock` guards one folder (the store's ``.edtech-map/`` or the folder of an
``ecosystem.yaml``) with the file ``edtech-map.lock`` in it. The lock is an exclusive
``fcntl.flock`` on that file, which the kernel drops when its process ends, however it ends
(a SIGKILL, a power cut): a lock left by a dead run is never in the way. Where ``fcntl`` is
missing (Windows), the file is created with ``os.open(O_CREAT | O_EXCL)`` instead, and a file
whose process is gone (its PID no longer runs) is stale and taken over.

Either way the file holds the holder's PID and start time, so the run that is refused says who
holds the workspace:

    another edtech-map (pid 4242, started 2026-11-23 14:05:09 UTC) is using /ws/.edtech-map;
    wait for it or remove /ws/.edtech-map/edtech-map.lock if it is gone

The lock is re-entrant within a process: opening the same store twice in one program (a
test, a script holding a store while it calls a command) takes it once and counts.

Examples
--------
>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> with WorkspaceLock(folder) as lock:
...     holder = read_holder(lock.path)
...     with WorkspaceLock(folder):  # the same process may enter again
...         pass
...     holder.pid == os.getpid(), lock.held
(True, True)
>>> lock.held, lock.path.exists()
(False, False)

``Store.open`` takes the lock on the store's folder and ``Store.close`` gives it back, so every
command that opens the store (``pull``, ``import-roster``, ``ingest``, ``store compact`` ...) is
covered; DuckDB's own file lock, which the lock file comes before, would only say that the
file is busy.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from edtech_map.errors import EdtechMapError

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover -- Windows
    fcntl = None  # type: ignore[assignment]  # the O_EXCL fallback is used instead

__all__ = ["LOCK_NAME", "Holder", "WorkspaceLock", "WorkspaceLockedError", "read_holder"]

log = logging.getLogger(__name__)

LOCK_NAME = "edtech-map.lock"
"""The lock file's name, inside the folder it guards."""

_HELD: dict[Path, tuple[IO[str] | None, int]] = {}
"""Lock files this process holds: the open file (None for an O_EXCL lock) and a count."""
_GUARD = threading.Lock()


class WorkspaceLockedError(EdtechMapError):
    """Another edtech-map run holds the workspace; the message says which and what to do.

    Examples
    --------
    >>> holder = Holder(pid=4242, started="2026-11-23 14:05:09 UTC")
    >>> print(WorkspaceLockedError(Path("/ws"), Path("/ws/edtech-map.lock"), holder))
    another edtech-map (pid 4242, started 2026-11-23 14:05:09 UTC) is using /ws; wait for it or remove /ws/edtech-map.lock if it is gone
    """

    def __init__(self, workspace: Path, lock: Path, holder: Holder | None) -> None:
        self.workspace, self.lock, self.holder = workspace, lock, holder
        who = (
            f"pid {holder.pid}, started {holder.started}"
            if holder is not None
            else "pid unknown, started unknown"
        )
        super().__init__(
            f"another edtech-map ({who}) is using {workspace}; wait for it or remove {lock} "
            f"if it is gone"
        )


_ERRORS: dict[type[EdtechMapError], type[WorkspaceLockedError]] = {}


def _locked_error(base: type[EdtechMapError]) -> type[WorkspaceLockedError]:
    """A :class:`WorkspaceLockedError` that is also a ``base`` (the store's ``StoreError``), so
    the code that already handles ``base`` handles a locked workspace too.

    Examples
    --------
    >>> class StoreError(EdtechMapError): ...
    >>> error = _locked_error(StoreError)(Path("/ws"), Path("/ws/edtech-map.lock"), None)
    >>> isinstance(error, StoreError), isinstance(error, WorkspaceLockedError)
    (True, True)
    """
    if base not in _ERRORS:
        name = f"WorkspaceLocked{base.__name__}"
        _ERRORS[base] = type(name, (WorkspaceLockedError, base), {"__module__": __name__})
    return _ERRORS[base]


@dataclass(frozen=True)
class Holder:
    """Who holds a lock: process id, when it started, and its command line.

    Examples
    --------
    >>> Holder(pid=1, started="2026-01-01 00:00:00 UTC").alive()
    True
    """

    pid: int
    started: str
    command: str = ""

    def alive(self) -> bool:
        """Whether a process with this PID runs (on this machine)."""
        if self.pid <= 0:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # it runs, as another user
        except OSError:  # pragma: no cover -- Windows: no signal 0
            return True
        return True


def read_holder(path: Path) -> Holder | None:
    """The holder written in a lock file, or None when it is missing, empty or unreadable.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / LOCK_NAME
    >>> _ = path.write_text('{"pid": 7, "started": "then"}')
    >>> read_holder(path)
    Holder(pid=7, started='then', command='')
    >>> _ = path.write_text("{half a rec")
    >>> read_holder(path) is None
    True
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Holder(int(data["pid"]), str(data["started"]), str(data.get("command", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _record() -> str:
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    command = " ".join(Path(sys.argv[0]).name.split() + sys.argv[1:2]) if sys.argv else ""
    return json.dumps({"pid": os.getpid(), "started": started, "command": command})


class WorkspaceLock:
    """An exclusive, re-entrant (per process) lock on one workspace folder.

    Raises
    ------
    WorkspaceLockedError
        From :meth:`acquire` (and ``with``) when another process holds the folder.

    Examples
    --------
    >>> import tempfile
    >>> lock = WorkspaceLock(Path(tempfile.mkdtemp()))
    >>> lock.acquire().held
    True
    >>> lock.release()
    >>> lock.held
    False
    """

    def __init__(
        self, workspace: str | os.PathLike[str], *, error: type[EdtechMapError] | None = None
    ) -> None:
        self.workspace = Path(workspace)
        self.path = (self.workspace / LOCK_NAME).absolute()
        self.held = False
        self.error = _locked_error(error) if error is not None else WorkspaceLockedError

    def _refused(self) -> WorkspaceLockedError:
        return self.error(self.workspace, self.path, read_holder(self.path))

    def acquire(self) -> Self:
        """Take the lock (or count one more use of it, when this process already holds it)."""
        if self.held:
            return self
        with _GUARD:
            if self.path in _HELD:
                handle, count = _HELD[self.path]
                _HELD[self.path] = (handle, count + 1)
            else:
                self.workspace.mkdir(parents=True, exist_ok=True)
                handle = self._flock() if fcntl is not None else self._exclusive()
                _HELD[self.path] = (handle, 1)
        self.held = True
        log.debug("locked workspace %s", self.workspace)
        return self

    def release(self) -> None:
        """Give back one use of the lock; the last one in this process removes the file.

        Any instance for the folder may release (so that ``Store.close`` needs no reference to
        the instance ``Store.open`` took); releasing a folder this process does not hold does
        nothing.
        """
        self.held = False
        with _GUARD:
            if self.path not in _HELD:
                return
            handle, count = _HELD.pop(self.path)
            if count > 1:
                _HELD[self.path] = (handle, count - 1)
                return
            # Remove the file while still holding it, so no one locks a file about to vanish.
            self.path.unlink(missing_ok=True)
            if handle is not None:
                handle.close()  # closing drops the flock
        log.debug("unlocked workspace %s", self.workspace)

    def _flock(self) -> IO[str]:
        assert fcntl is not None
        while True:
            handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 -- kept open while held
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                raise self._refused() from None
            try:
                same = os.stat(self.path).st_ino == os.fstat(handle.fileno()).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # the holder removed the file as we opened it: lock the new one
                handle.close()
                continue
            handle.seek(0)
            handle.truncate()
            handle.write(_record())
            handle.flush()
            return handle

    def _exclusive(self) -> None:  # pragma: no cover -- used where fcntl is missing
        for _ in range(2):
            try:
                descriptor = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = read_holder(self.path)
                if holder is None or holder.alive():
                    raise self._refused() from None
                log.warning("removing the stale lock %s of pid %d", self.path, holder.pid)
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(_record())
            return None
        raise self._refused()

    def __enter__(self) -> Self:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"WorkspaceLock({str(self.workspace)!r}, held={self.held})"
