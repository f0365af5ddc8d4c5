"""One build per run directory: `_lock.json` names the build that holds the run directory.

Two builds writing the same run directory would each delete the other's half-written temporaries
(`build.remove_stale_temporaries`) and race on markers. So `corpusmill build` takes this lock first
and a second live build is refused with a message naming the holder (host, pid, start time).

A lock left by a killed build must not block the next one. It is stale when
  - its holder ran on this host and that process is gone (its pid is dead, or now belongs to a
    process that started later: pids are reused), or
  - its holder ran on another host (a shared or `s3://` run directory, where this host cannot see
    the process) and its heartbeat, rewritten every HEARTBEAT_SECONDS while the build runs, is
    older than STALE_AFTER_SECONDS.
A stale lock is taken over. On a local run directory the lock is created with O_EXCL, so two
builds racing for a free directory cannot both win; object stores have no create-if-absent here, so
there the winner is the last writer and each taker reads its own token back before going on.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass

from pipelines.rundir import RunDir

LOCK_NAME = "_lock.json"
# The heartbeat is for holders on another host; it is small (one JSON PUT) and infrequent.
HEARTBEAT_SECONDS = 30.0
# Ten missed heartbeats: generous against clock skew between hosts and slow object stores.
STALE_AFTER_SECONDS = 300.0


class RunDirLocked(RuntimeError):
    """Another live build holds the run directory."""


@dataclass(frozen=True, slots=True)
class LockHolder:
    host: str  # socket.gethostname() of the holder
    pid: int
    process_start: str | None  # /proc start time in clock ticks, to tell a reused pid apart
    started: str  # ISO time the lock was taken
    heartbeat: float  # time.time() of the holder's last heartbeat
    token: str  # unique per acquisition: a holder only ever releases its own lock

    def describe(self) -> str:
        return f"host {self.host}, pid {self.pid}, started {self.started}"


def _process_start(pid: int) -> str | None:
    """The process's start time since boot (field 22 of /proc/<pid>/stat), None without /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces: split after it.
    return stat[stat.rindex(b")") + 2:].split()[19].decode()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def holder_is_live(holder: LockHolder, *, now: float | None = None) -> bool:
    if holder.host == socket.gethostname():
        if not _pid_alive(holder.pid):
            return False
        current = _process_start(holder.pid)
        return holder.process_start is None or current is None or current == holder.process_start
    return ((now or time.time()) - holder.heartbeat) < STALE_AFTER_SECONDS


def read_holder(run: RunDir) -> LockHolder | None:
    try:
        data = json.loads(run.fs.cat_file(run.path(LOCK_NAME)))
        return LockHolder(**data)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError):  # a torn or foreign file: nobody can be proven to hold it
        return None


class RunLock:
    """`with RunLock(run):` holds the run directory for one build, heartbeating while held."""

    def __init__(self, run: RunDir):
        self.run = run
        self.holder: LockHolder | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _new_holder(self) -> LockHolder:
        pid = os.getpid()
        return LockHolder(host=socket.gethostname(), pid=pid, process_start=_process_start(pid),
                          started=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                          heartbeat=time.time(), token=uuid.uuid4().hex)

    def _refuse(self, holder: LockHolder) -> None:
        raise RunDirLocked(
            f"run directory {self.run.url} is held by another build ({holder.describe()}); "
            f"wait for it to finish, or give this build another run directory (`--run`). If that "
            f"build is gone and its host cannot be checked, delete {self.run.path(LOCK_NAME)}"
        )

    def acquire(self) -> LockHolder:
        mine = self._new_holder()
        blob = json.dumps(asdict(mine)).encode()
        if self.run.is_local:
            for _ in range(3):  # create, or clear a stale lock and try again
                try:
                    fd = os.open(self.run.path(LOCK_NAME), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                except FileExistsError:
                    holder = read_holder(self.run)
                    if holder is not None and holder_is_live(holder):
                        self._refuse(holder)
                    if holder is None and self._just_created():
                        raise RunDirLocked(f"run directory {self.run.url} is being taken by another "
                                           "build right now; retry in a few seconds")
                    self._remove_if(holder)
                    continue
                with os.fdopen(fd, "wb") as handle:
                    handle.write(blob)
                break
            else:
                raise RunDirLocked(f"run directory {self.run.url}: could not take {LOCK_NAME}; retry")
        else:
            holder = read_holder(self.run)
            if holder is not None and holder_is_live(holder):
                self._refuse(holder)
            self.run.write_bytes(LOCK_NAME, blob)
            written = read_holder(self.run)
            if written is None or written.token != mine.token:  # another build wrote after us
                self._refuse(written or mine)
        self.holder = mine
        self._thread = threading.Thread(target=self._beat, name="corpusmill-run-lock", daemon=True)
        self._thread.start()
        return mine

    def _just_created(self) -> bool:
        """An unreadable lock file written moments ago is another build between create and write."""
        try:
            return time.time() - os.stat(self.run.path(LOCK_NAME)).st_mtime < 5.0
        except FileNotFoundError:
            return False

    def _remove_if(self, holder: LockHolder | None) -> None:
        """Delete the lock file if it still holds `holder` (None: whatever unreadable is there)."""
        current = read_holder(self.run)
        same = (current is None) if holder is None else (current is not None and current.token == holder.token)
        if same:
            try:
                self.run.fs.rm(self.run.path(LOCK_NAME))
            except FileNotFoundError:
                pass

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            current = read_holder(self.run)
            if current is None or current.token != self.holder.token:
                return  # taken over (declared stale by someone): do not fight over it
            beat = LockHolder(**{**asdict(self.holder), "heartbeat": time.time()})
            try:
                self.run.write_bytes(LOCK_NAME, json.dumps(asdict(beat)).encode())
            except OSError:
                continue  # a missed beat; the next one may get through

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.holder is not None:
            self._remove_if(self.holder)
            self.holder = None

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
