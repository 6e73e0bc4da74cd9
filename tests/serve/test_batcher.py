"""The micro-batcher on a real ort-cpu runtime: merging, scattering, isolation, backpressure."""

import asyncio
import threading
import time

import numpy as np
import pytest

from lenet_deploy.errors import InputError
from lenet_deploy.runtimes import load_runtime
from lenet_deploy.serve.batcher import Batcher, Doorbell, Overloaded


@pytest.fixture(scope="module")
def runtime(exported_dir):
    with load_runtime("ort-cpu", exported_dir, threads=1) as rt:
        yield rt


def test_concurrent_requests_merge_into_one_batch_and_get_their_own_rows(runtime, digits):
    images = [digits.x_test[i : i + 1 + i % 3] for i in range(10)]  # 1, 2 or 3 images each

    async def main():
        batcher = Batcher(runtime, max_batch=64, max_delay_s=0.2)
        results = await asyncio.gather(*(batcher.infer(x) for x in images))
        await batcher.close()
        return results, batcher.metrics

    results, metrics = asyncio.run(main())
    for x, got in zip(images, results, strict=True):
        np.testing.assert_allclose(got, runtime.predict(x), atol=1e-6, rtol=0)
    assert metrics.execution_count == 1
    assert metrics.inference_count == sum(len(x) for x in images)
    assert metrics.queue_count == len(images)


def test_max_batch_splits_batches(runtime, digits):
    async def main():
        batcher = Batcher(runtime, max_batch=4, max_delay_s=0.05)
        await asyncio.gather(*(batcher.infer(digits.x_test[i : i + 1]) for i in range(10)))
        await batcher.close()
        return batcher.metrics

    metrics = asyncio.run(main())
    assert metrics.inference_count == 10
    assert max(metrics.batch_sizes) <= 4 and metrics.execution_count >= 3


def test_a_bad_request_fails_alone(runtime, digits):
    bad = digits.x_test[:2].copy()
    bad[1, 0, 5, 5] = np.nan  # the runtime itself refuses this batch

    async def main():
        batcher = Batcher(runtime, max_batch=64, max_delay_s=0.2)
        jobs = [batcher.infer(digits.x_test[i : i + 1]) for i in range(4)]
        results = await asyncio.gather(*jobs[:2], batcher.infer(bad), *jobs[2:],
                                       return_exceptions=True)  # fmt: skip
        await batcher.close()
        return results, batcher.metrics

    results, metrics = asyncio.run(main())
    assert isinstance(results[2], InputError) and "NaN" in str(results[2])
    good = [r for i, r in enumerate(results) if i != 2]
    for i, got in enumerate(good):
        np.testing.assert_allclose(got, runtime.predict(digits.x_test[i : i + 1]), atol=1e-6)
    assert metrics.execution_count == 1  # one merged batch, then re-run request by request


def test_full_queue_refuses_at_once(runtime, digits):
    async def main():
        batcher = Batcher(runtime, max_batch=64, max_delay_s=0.3, max_queue=2)
        first = [asyncio.ensure_future(batcher.infer(digits.x_test[:1])) for _ in range(2)]
        await asyncio.sleep(0)  # both are queued now
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(Overloaded, match="2 requests pending"):
            await batcher.infer(digits.x_test[:1])
        refused_after = loop.time() - t0
        results = await asyncio.gather(*first)
        await batcher.close()
        return refused_after, results

    refused_after, results = asyncio.run(main())
    assert refused_after < 0.1  # not after the 0.3 s batching delay
    assert all(r.shape == (1, 10) for r in results)


def test_inference_runs_off_the_event_loop(runtime, digits):
    seen = []

    class Recording:
        def predict(self, x):
            seen.append(threading.current_thread().name)
            return runtime.predict(x)

    async def main():
        batcher = Batcher(Recording(), max_delay_s=0)
        await batcher.infer(digits.x_test[:1])
        await batcher.close()
        return threading.current_thread().name

    loop_thread = asyncio.run(main())
    assert seen == ["lenet-batcher"] and loop_thread != "lenet-batcher"


def test_a_full_batch_runs_without_waiting_out_the_delay(runtime, digits):
    async def main():
        batcher = Batcher(runtime, max_batch=4, max_delay_s=60.0)
        jobs = [batcher.infer(digits.x_test[i : i + 1]) for i in range(4)]
        # The worker waits for its batch to fill; the fourth image fills it and wakes it.
        results = await asyncio.wait_for(asyncio.gather(*jobs), timeout=20)
        await batcher.close()
        return results, batcher.metrics

    results, metrics = asyncio.run(main())
    assert [r.shape for r in results] == [(1, 10)] * 4
    assert metrics.execution_count == 1 and metrics.batch_sizes == {4: 1}


def test_requests_queued_while_a_batch_runs_merge_into_the_next(runtime, digits):
    started, release = threading.Event(), threading.Event()

    class Gated:
        def predict(self, x):
            started.set()
            release.wait(20)
            return runtime.predict(x)

    async def main():
        batcher = Batcher(Gated(), max_batch=64, max_delay_s=0)
        first = asyncio.ensure_future(batcher.infer(digits.x_test[:1]))
        while not started.is_set():  # the worker is inside the runtime with batch one
            await asyncio.sleep(0.01)
        rest = [asyncio.ensure_future(batcher.infer(digits.x_test[i : i + 2])) for i in range(5)]
        await asyncio.sleep(0.05)
        release.set()
        results = await asyncio.gather(first, *rest)
        await batcher.close()
        return results, batcher.metrics

    results, metrics = asyncio.run(main())
    for i, got in enumerate(results[1:]):
        np.testing.assert_allclose(got, runtime.predict(digits.x_test[i : i + 2]), atol=1e-6)
    assert metrics.batch_sizes == {1: 1, 10: 1}  # the five waiting requests ran together


def test_close_runs_what_is_still_queued(runtime, digits):
    async def main():
        batcher = Batcher(runtime, max_batch=64, max_delay_s=60.0)
        jobs = [asyncio.ensure_future(batcher.infer(digits.x_test[i : i + 1])) for i in range(3)]
        await asyncio.sleep(0.05)  # queued; the worker waits out the long delay for more
        await asyncio.wait_for(batcher.close(timeout_s=0.1), timeout=20)
        return await asyncio.wait_for(asyncio.gather(*jobs), timeout=20), batcher.metrics

    results, metrics = asyncio.run(main())
    for i, got in enumerate(results):
        np.testing.assert_allclose(got, runtime.predict(digits.x_test[i : i + 1]), atol=1e-6)
    assert metrics.batch_sizes == {3: 1}


def test_doorbell_keeps_a_ring_until_it_is_heard_and_times_out_otherwise():
    bell = Doorbell()
    started = time.perf_counter()
    assert bell.wait(0.02) is False  # nobody rang
    assert time.perf_counter() - started >= 0.015
    bell.ring()
    bell.ring()  # two rings before a wait are heard once
    assert bell.wait(0) is True
    assert bell.wait(0) is False
    assert bell.wait(1e-7) is False  # a deadline gone before the wait starts still returns


def test_doorbell_wakes_a_waiter_on_another_thread():
    bell, woke = Doorbell(), threading.Event()

    def waiter():
        if bell.wait(20):
            woke.set()

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.02)
    assert not woke.is_set()
    bell.ring()
    thread.join(20)
    assert woke.is_set()


def test_many_tiny_batches_with_a_sub_millisecond_delay_all_finish(runtime, digits):
    # The worker's timed waits are a tenth of a millisecond here, thousands of times over; a
    # wait that overran its deadline into "forever" would hang this (the server did, once).
    async def main():
        batcher = Batcher(runtime, max_batch=2, max_delay_s=0.0001)
        for round_ in range(40):
            jobs = [batcher.infer(digits.x_test[i : i + 1]) for i in range(round_ % 7 + 1)]
            await asyncio.wait_for(asyncio.gather(*jobs), timeout=20)
            await asyncio.sleep(0.0002 * (round_ % 3))
        await batcher.close()
        return batcher.metrics

    metrics = asyncio.run(main())
    assert metrics.inference_count == sum(r % 7 + 1 for r in range(40))
