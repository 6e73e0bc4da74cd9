"""The GPU-free logic the CUDA runtimes share: chunk plans and the per-thread binding cache."""

import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lenet_deploy.runtimes import cuda_staging
from lenet_deploy.runtimes.cuda_staging import BindingCache, Chunk, bucket_size, plan_chunks


def test_plan_alternates_slots_and_keeps_the_remainder_last():
    assert plan_chunks(10, 4) == [Chunk(0, 4, 0), Chunk(4, 8, 1), Chunk(8, 10, 0)]
    assert plan_chunks(3, 256) == [Chunk(0, 3, 0)]  # one chunk: nothing to overlap
    assert [c.slot for c in plan_chunks(9, 1, slots=3)] == [0, 1, 2] * 3


@given(n=st.integers(1, 5000), chunk=st.integers(1, 600), slots=st.integers(1, 4))
def test_plan_covers_every_image_once_in_order(n, chunk, slots):
    plan = plan_chunks(n, chunk, slots)
    assert [c.start for c in plan] == list(range(0, n, chunk))
    assert all(a.stop == b.start for a, b in zip(plan, plan[1:], strict=False))
    assert plan[-1].stop == n and all(1 <= c.size <= chunk for c in plan)
    # consecutive chunks never share a slot (so they can overlap) unless there is one slot
    assert slots == 1 or all(a.slot != b.slot for a, b in zip(plan, plan[1:], strict=False))


@pytest.mark.parametrize("args", [(0, 4), (4, 0), (4, 4, 0)])
def test_plan_refuses_empty_arguments(args):
    with pytest.raises(ValueError, match=">= 1"):
        plan_chunks(*args)


def test_bucket_sizes_are_powers_of_two_up_to_the_chunk():
    assert [bucket_size(n, 256) for n in (1, 2, 3, 4, 5, 100, 128, 129, 256, 257, 5000)] == [
        1,
        2,
        4,
        4,
        8,
        128,
        128,
        256,
        256,
        256,
        256,
    ]
    assert bucket_size(100, 96) == 96  # a chunk that is not a power of two caps it
    assert len({bucket_size(n, 256) for n in range(1, 2000)}) <= cuda_staging.MAX_BINDINGS
    with pytest.raises(ValueError, match=">= 1"):
        bucket_size(0, 256)


def test_cache_evicts_least_recently_used_and_reports_it():
    made, evicted = [], []
    cache = BindingCache(lambda n: made.append(n) or [n], capacity=2, on_evict=evicted.append)
    first = cache.get(1)
    assert cache.get(1) is first and made == [1]  # reused, not rebuilt
    cache.get(2)
    cache.get(1)  # 1 is now the most recent
    cache.get(3)
    assert evicted == [[2]] and cache.sizes() == [1, 3]
    cache.clear()
    assert len(cache) == 0 and sorted(evicted) == [[1], [2], [3]]


def test_a_non_evicting_cache_says_when_it_is_full():
    cache = BindingCache(lambda n: [n], capacity=2, evict=False)
    assert cache.get(1) == [1] and cache.get(2) == [2]
    assert cache.get(3) is None  # onnxruntime's graphs live as long as the session
    assert cache.get(1) == [1] and cache.sizes() == [2, 1]


def race(cache: BindingCache, threads: int = 8) -> list[bool]:
    """Each thread writes its own rows into its binding for batch size 4, waits until every
    thread has written, then reads the rows back: True where a thread got its own rows."""
    barrier = threading.Barrier(threads, timeout=10)
    got = [False] * threads

    def worker(i: int) -> None:
        x = np.full((4, 10), i, np.float32)
        binding = cache.get(4)
        binding[:] = x  # the upload
        barrier.wait()  # every other thread uploads before this one reads back
        got[i] = bool(np.array_equal(binding, x))  # the download

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=10)
    return got


def test_threads_of_the_same_batch_size_never_share_buffers():
    cache = BindingCache(lambda n: np.zeros((n, 10), np.float32), capacity=16)
    assert race(cache) == [True] * 8
    assert len(cache) == 8  # one binding per thread


def test_the_race_is_real_when_bindings_are_shared(monkeypatch):
    """The control for the test above: keyed by batch size alone, threads get others' rows."""
    monkeypatch.setattr(cuda_staging, "_thread_id", lambda: 0)
    cache = BindingCache(lambda n: np.zeros((n, 10), np.float32), capacity=16)
    assert race(cache).count(True) == 1  # only the last writer reads its own rows


def test_a_binding_evicted_while_in_use_stays_valid():
    """Eviction drops the cache's reference; the thread using the binding keeps its own."""
    cache = BindingCache(lambda n: np.full((n, 10), n, np.float32), capacity=1)
    held = cache.get(2)
    cache.get(3)  # evicts size 2
    assert cache.sizes() == [3] and np.all(held == 2)
