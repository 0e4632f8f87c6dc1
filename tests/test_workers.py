"""mecab_bert/workers.py: ordered_map maps in forked workers, in order, reading at most two items a worker ahead; an
error, a closed consumer or a dead worker stops every worker at once. (The scripts' Ctrl-C and SIGTERM, which stop
their workers quietly, are tested through the scripts: test_prepare_corpus, test_build_vocab,
test_create_pretraining_data.)"""

import multiprocessing
import os
import signal
import time

import pytest

from mecab_bert.workers import WorkerDiedError, ordered_map


def square_slowly(n: int) -> tuple[int, int]:
    """n * n and the worker's pid, later items of each five sooner: the workers finish out of order."""
    time.sleep(0.004 * (5 - n % 5))
    return n * n, os.getpid()


def fail_at_three(n: int) -> int:
    if n == 3:
        raise ValueError(f"item {n} is bad")
    return n


def die_at_two(n: int) -> int:
    if n == 2:
        os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer would
    return n


def signal_handlers(_: int) -> tuple[bool, bool]:
    return signal.getsignal(signal.SIGINT) == signal.SIG_IGN, signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def stray_workers(before: set) -> set:
    """Worker processes started since `before` (multiprocessing.active_children then) that are still alive."""
    return set(multiprocessing.active_children()) - before


def test_results_come_in_order_from_several_workers():
    before = set(multiprocessing.active_children())
    results = list(ordered_map(square_slowly, range(20), 3))
    assert [value for value, _ in results] == [n * n for n in range(20)]
    workers = {pid for _, pid in results}
    assert os.getpid() not in workers and 1 < len(workers) <= 3
    assert stray_workers(before) == set()  # the pool shut down with the last result


def test_reading_never_runs_more_than_two_items_a_worker_ahead():
    read = []

    def items():
        for n in range(12):
            read.append(n)
            yield n

    for index, (value, _) in enumerate(ordered_map(square_slowly, items(), 2)):
        assert value == index * index
        assert len(read) == min(index + 2 * 2, 12), index


def test_an_error_in_a_worker_is_raised_in_its_place_and_stops_the_workers():
    before = set(multiprocessing.active_children())
    results = ordered_map(fail_at_three, range(10), 2)
    assert [next(results) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(ValueError, match="item 3 is bad"):
        next(results)
    assert stray_workers(before) == set()


def test_a_consumer_that_stops_stops_the_workers():
    before = set(multiprocessing.active_children())
    results = ordered_map(square_slowly, range(100), 2)
    assert next(results)[0] == 0
    results.close()  # what an exception in the loop over the results (Ctrl-C included) does to the generator
    assert stray_workers(before) == set()


def test_a_worker_that_dies_is_one_line_and_stops_the_others():
    before = set(multiprocessing.active_children())
    with pytest.raises(WorkerDiedError) as error:
        list(ordered_map(die_at_two, range(6), 2))
    assert str(error.value) == "a worker process died (killed by a signal, or out of memory); nothing was replaced"
    assert stray_workers(before) == set()


def test_workers_leave_ctrl_c_to_the_script_and_die_of_sigterm():
    """Not the script's own SIGTERM handler (Command.invoke makes SIGTERM a Ctrl-C), which fork copies."""
    script_handler = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        assert set(ordered_map(signal_handlers, range(4), 2)) == {(True, True)}
    finally:
        signal.signal(signal.SIGTERM, script_handler)
