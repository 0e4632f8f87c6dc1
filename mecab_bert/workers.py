# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""Forked worker processes: `ordered_map` (map in order, bounded in flight), workers that die with the script, and
Ctrl-C / SIGTERM held back while a pool forks.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import ctypes
import itertools
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any


def start_worker(parent: int) -> None:
    """The start of every worker process of a script (a process pool's initializer, with `os.getpid()` of the
    script): Ctrl-C stops the script alone, which then winds the pool down (not a traceback from every idle
    worker), and on Linux the worker dies with the script (PR_SET_PDEATHSIG), so that a script killed outright
    (SIGTERM, SIGKILL, the OOM killer) leaves no worker waiting forever, nor the shared memory it holds."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the script's own handler (Command.invoke), copied by fork
    # Forked while the script held both back (_signals_held): a SIGTERM sent since then kills it now.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
        if os.getppid() != parent:  # the script died before prctl took effect
            os._exit(1)


class WorkerDiedError(RuntimeError):
    """A worker process of a script died (killed by a signal, or out of memory): one line, like bad input."""


def ordered_map(function: Callable[[Any], Any], items: Iterable[Any], num_workers: int,
                initializer: Callable[..., None] = start_worker, initargs: tuple = ()) -> Iterator[Any]:
    """`map(function, items)` in `num_workers` forked processes, in order, with at most two items a worker in
    flight, so that reading never runs ahead of writing by more.

    `initializer(os.getpid(), *initargs)` starts each worker; it must call start_worker. Fork, so that workers
    share what the script has read (templates, a vocab) without pickling it. On an exception, Ctrl-C and SIGTERM
    included, the workers are stopped at once (a worker stuck on one item must not hold the script), the items
    are dropped, and the exception goes on. A worker that dies (killed, out of memory) is a WorkerDiedError.
    """
    pool: concurrent.futures.ProcessPoolExecutor | None = None
    try:
        # A signal while the pool forks its workers would land in an at-fork hook, which swallows it (the run
        # then went on, or hung at exit): held back until the workers have started, then raised here.
        with _signals_held():
            pool = concurrent.futures.ProcessPoolExecutor(
                num_workers, mp_context=multiprocessing.get_context("fork"), initializer=initializer,
                initargs=(os.getpid(), *initargs))
            items = iter(items)
            pending: collections.deque[concurrent.futures.Future] = collections.deque()
            for item in itertools.islice(items, 1):
                pending.append(pool.submit(function, item))  # the first submit forks every worker
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) >= 2 * num_workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    except concurrent.futures.process.BrokenProcessPool:
        _stop_workers(pool)
        raise WorkerDiedError("a worker process died (killed by a signal, or out of memory); nothing was replaced"
                         ) from None
    except BaseException:
        if pool is not None:
            _stop_workers(pool)
        raise
    else:
        assert pool is not None
        pool.shutdown(wait=True)


# What _signals_held holds back: Ctrl-C, and SIGTERM (which Command.invoke makes a Ctrl-C).
_HELD = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Holds Ctrl-C and SIGTERM back for the block and raises them at its end. The mask, so that forked workers
    start with them blocked (start_worker unblocks them); a recording handler too, because another thread
    (tqdm's monitor) takes a signal this thread blocks, and Python then runs the handler in this thread anyway."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    handlers = {number: signal.getsignal(number) for number in _HELD}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        for number, handler in handlers.items():
            if callable(handler):
                signal.signal(number, lambda signum, frame: caught.append(signum))
        yield
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    for number in dict.fromkeys(caught):
        handler = handlers[number]
        if callable(handler):
            handler(number, None)  # raises KeyboardInterrupt


def _stop_workers(pool: concurrent.futures.ProcessPoolExecutor, grace: float = 5.0) -> None:
    """Cancels what is queued and terminates the workers (what Python 3.14's terminate_workers does), without leaving
    the pool's manager thread waiting for ever on a result a terminated worker was writing. This reads the executor's
    private attributes (3.10-3.13 have them): the standard library has no way to stop a pool's workers before 3.14."""
    workers = dict(pool._processes or {})  # shutdown forgets them
    manager, results = pool._executor_manager_thread, pool._result_queue
    if pool._call_queue is not None:  # 3.10: its feeder thread may be blocked on a pipe no worker reads any more
        pool._call_queue.cancel_join_thread()
    with contextlib.suppress(RuntimeError):  # a signal as the pool started: "cannot join thread before it is started"
        pool.shutdown(wait=False, cancel_futures=True)
    for worker in workers.values():
        with contextlib.suppress(ValueError, OSError):  # already closed, already gone
            worker.terminate()
    for worker in workers.values():
        with contextlib.suppress(ValueError, OSError):
            worker.join(grace)
            if worker.is_alive():
                worker.kill()
                worker.join()
    # A worker killed while it wrote a result leaves the manager thread in recv() for the rest: with the last
    # write end closed it gets EOF, marks the pool broken and ends (else the exit would join it for ever).
    if results is not None:
        results._writer.close()
    if manager is not None and manager.is_alive():
        manager.join()
