"""Stopping a run's remote work without ``ray.cancel``.

``ray.cancel`` on a task can abort the driver in Ray 2.60 (``Check failed: it !=
submissible_tasks_.end() Tried to complete task that was not pending``) when the
task finishes while the cancel is handled: a known race in Ray's task manager, which
a loop of short tasks cancelled at random moments reproduces within seconds here.
A failing pipeline must not take the user's process down with it, so the runner
never cancels a task. Instead:

* the driver marks a stage as stopped on a *board*: Ray's key-value store in the
  GCS (one key per stopped stage, removed after ``KEEP_S``), or a set in this
  process for the debug mode, where workers are threads of the driver. A stage is
  named by its slot, ``"<run_id>:<step>"``, so stopping one run never touches another;
* every call a worker makes for a stage (a batch of rows, a value call, a fused
  chain) is registered while it runs; a watcher thread, one per process, asks the
  board about a call once it has run ``FIRST_S``, then again after a twentieth of
  the call's age (at least ``FIRST_S``, at most ``MAX_EVERY_S``: a cluster of many
  workers running long calls must not flood the GCS), and raises ``RunStopped``
  inside the call's thread when its stage was stopped.
  Calls shorter than ``FIRST_S`` (most batches: they are sized to about 0.2 s) never ask;
* the interrupted call ends normally, with an empty outcome the driver no longer
  reads, so Ray neither retries it nor reports an unhandled error.

As with Ray's own cancel, the exception arrives between two Python bytecodes: a
call blocked inside C code (a sleep, a socket read) sees it only when that returns.
So a call still running ``FORCE_S`` after it was interrupted is *forced*: its Ray
worker process ends (``os._exit``), which frees its CPU at once. Ray then runs the
task again, as for any lost worker; a retried call (attempt > 0) asks the board
before it starts and, its stage being stopped, returns at once: nothing of a
finished run runs again. (In the plain debug mode the calls are threads of the
driver, which cannot be forced; they end with the blocking call.)
"""
from __future__ import annotations

import ctypes
import functools
import heapq
import os
import sys
import threading
import time
from typing import Any, Callable

NAMESPACE = "synaflow"
FIRST_S = 0.3  # a call is asked about once it has run this long ...
MAX_EVERY_S = 2.0  # ... and again at least this often
FORCE_S = 2.0  # an interrupted call still running this long after has its worker ended
KEEP_S = 600.0  # a stopped stage's key stays this long (queued calls may start late)


class RunStopped(BaseException):
    """Raised inside a call whose stage was stopped (a fatal error, STOP, Ctrl-C).

    A ``BaseException``, as ``KeyboardInterrupt`` is: a step's ``except Exception``
    does not swallow it, and its ``finally`` blocks and context managers run."""


def key(slot: str) -> str:
    return f"stop:{slot}"


def slot_of(box: Any) -> str:
    """The slot in a call's box ``(slot, ...)``, or in the first of a fused chain's
    boxes (the chain's calls belong to its first stage)."""
    slot = box[0]
    return slot if isinstance(slot, str) else slot[0]


# -- the driver's side ------------------------------------------------------------------------
KNOWN = 1024  # stopped slots a process remembers (oldest forgotten first)
_LOCAL: dict[str, None] = {}  # slots stopped in this process (the debug mode's board)


def _remember(known: dict[str, None], slot: str) -> None:
    """Add ``slot`` to an insertion-ordered set of at most ``KNOWN`` (a dict: every
    call looks a slot up, so membership must not cost a scan)."""
    known[slot] = None
    while len(known) > KNOWN:
        del known[next(iter(known))]


def stop_locally(slot: str) -> None:
    _remember(_LOCAL, slot)


_EXPIRING: list = []  # heap of (time to delete, slot)
_EXPIRY = threading.Condition()
_EXPIRER: list = []


def stop_on_ray(slot: str) -> None:
    """Mark ``slot`` stopped in the cluster's key-value store; one thread per driver
    deletes each key ``KEEP_S`` later (a key left by a driver that exited goes with
    the cluster)."""
    from ray.experimental import internal_kv

    internal_kv._internal_kv_put(key(slot), b"1", overwrite=True, namespace=NAMESPACE)
    with _EXPIRY:
        heapq.heappush(_EXPIRING, (time.monotonic() + KEEP_S, slot))
        if not _EXPIRER:
            _EXPIRER.append(threading.Thread(target=_expire, name="synaflow-stop-expiry",
                                             daemon=True))
            _EXPIRER[0].start()
        _EXPIRY.notify()


def _expire() -> None:
    while True:
        with _EXPIRY:
            while not _EXPIRING or _EXPIRING[0][0] > time.monotonic():
                _EXPIRY.wait(None if not _EXPIRING else _EXPIRING[0][0] - time.monotonic())
            _, slot = heapq.heappop(_EXPIRING)
        try:
            from ray.experimental import internal_kv

            internal_kv._internal_kv_del(key(slot), namespace=NAMESPACE)
        except Exception:
            pass  # disconnected: the key goes with the cluster


def _stopped(slot: str) -> bool:
    """Is ``slot`` on the board? (The local set, then Ray's store if Ray is up.)"""
    if slot in _LOCAL:
        return True
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return False
    try:
        from ray.experimental import internal_kv

        return bool(internal_kv._internal_kv_exists(key(slot), namespace=NAMESPACE))
    except Exception:
        return False


# -- the workers' side ------------------------------------------------------------------------
class _Call:
    __slots__ = ("slot", "thread", "started", "interrupted", "interrupted_at")

    def __init__(self, slot: str) -> None:
        self.slot = slot
        self.thread = threading.get_ident()
        self.started = time.monotonic()
        self.interrupted = False
        self.interrupted_at = 0.0


_LOCK = threading.Lock()
_ACTIVE: dict[int, _Call] = {}
_SEEN: dict[str, None] = {}  # slots this process already found stopped
_WATCHER: list = []
_board: Callable[[str], bool] = _stopped


def _after_fork() -> None:
    """A forked child has none of its parent's threads: no watcher, no expiry thread,
    no calls in progress (a step may fork, and call steps in the child)."""
    _WATCHER.clear()
    _EXPIRER.clear()
    _ACTIVE.clear()
    _in_ray_worker.cache_clear()  # a forked child of a worker is not one


os.register_at_fork(after_in_child=_after_fork)


def _set_async_exc(thread: int, exc: Any) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread),
                                               None if exc is None else ctypes.py_object(exc))


def _enter(call: _Call) -> None:
    """Register ``call``. Once it is registered (the lock released) ``RunStopped`` may
    arrive at any bytecode, so the caller does this inside its ``try``."""
    with _LOCK:
        _ACTIVE[id(call)] = call
        if not _WATCHER:
            watcher = threading.Thread(target=_watch, name="synaflow-stop-watch", daemon=True)
            _WATCHER.append(watcher)
            watcher.start()


def _leave(call: _Call) -> None:
    with _LOCK:
        _ACTIVE.pop(id(call), None)
        if call.interrupted:  # not raised yet: withdraw it, the call is over
            _set_async_exc(call.thread, None)


def interval(age: float) -> float:
    """Seconds between two questions about a stage whose oldest running call is
    ``age`` seconds old."""
    return min(MAX_EVERY_S, max(FIRST_S, age / 20))


def _watch() -> None:
    asked: dict[str, float] = {}
    while True:
        time.sleep(0.1)
        now = time.monotonic()
        with _LOCK:
            age: dict[str, float] = {}
            for c in _ACTIVE.values():
                if not c.interrupted and now - c.started >= FIRST_S:
                    age[c.slot] = max(age.get(c.slot, 0.0), now - c.started)
        for slot, oldest in age.items():
            if slot not in _SEEN:
                if now - asked.get(slot, 0.0) < interval(oldest):
                    continue
                asked[slot] = now
                if not _board(slot):
                    continue
                _remember(_SEEN, slot)
            interrupt(slot)
        for slot in [s for s in asked if s not in age]:
            del asked[slot]
        with _LOCK:
            stuck = [c for c in _ACTIVE.values()
                     if c.interrupted and now - c.interrupted_at >= FORCE_S]
        if stuck and _in_ray_worker():
            _force(stuck[0])


@functools.lru_cache(maxsize=1)
def _in_ray_worker() -> bool:
    """Is this process a Ray worker (not a driver running the debug mode)? A process
    does not change role, and every call start asks (``_retried``)."""
    try:
        import ray

        return ray._private.worker.global_worker.mode == ray.WORKER_MODE
    except Exception:
        return False


def _force(call: _Call) -> None:
    """End this worker process: ``call`` of a stopped stage is blocked where no
    exception reaches it (C code). Ray sees a lost worker and frees its resources."""
    step = call.slot.partition(":")[2] or call.slot
    sys.stderr.write(f"synaflow: step '{step}' (run {call.slot.partition(':')[0][:8]}) was "
                     f"stopped {FORCE_S:g} s ago but its call is still running, blocked "
                     "outside Python: ending this worker process to free its resources\n")
    sys.stderr.flush()
    os._exit(70)


def _retried() -> bool:
    """Is the current Ray task a retry (its worker was lost, for instance forced)?"""
    if not _in_ray_worker():
        return False
    try:
        import ray

        return ray._private.worker.global_worker.core_worker \
            .get_current_task_attempt_number() > 0
    except Exception:
        return False


def interrupt(slot: str) -> int:
    """Raise ``RunStopped`` in every call of ``slot`` running in this process (once
    per call); how many were interrupted."""
    n = 0
    with _LOCK:
        for call in _ACTIVE.values():
            if call.slot == slot and not call.interrupted:
                call.interrupted = True
                call.interrupted_at = time.monotonic()
                _set_async_exc(call.thread, RunStopped)
                n += 1
    return n


def stoppable(stopped_value: Callable[[], Any]) -> Callable:
    """Decorate a worker entry point whose first argument is a box (or a list of
    boxes): the call can be interrupted when its stage is stopped, and then returns
    ``stopped_value()`` (also at once, for a stage this process knows is stopped)."""
    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def call(box: Any, *args: Any, **kwargs: Any) -> Any:
            slot = slot_of(box)
            if slot in _SEEN or slot in _LOCAL or (_retried() and _board(slot)):
                return stopped_value()
            entry = _Call(slot)
            try:
                try:
                    _enter(entry)
                    return fn(box, *args, **kwargs)
                finally:
                    _leave(entry)
            except RunStopped:
                with _LOCK:
                    _ACTIVE.pop(id(entry), None)
                return stopped_value()
        return call
    return wrap
