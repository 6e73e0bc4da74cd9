"""Server counters: histogram buckets (Prometheus ``le`` semantics), stats and exposition text."""

from lenet_deploy.serve.metrics import Histogram, ServerMetrics


def test_histogram_counts_each_value_in_the_first_bucket_at_or_above_it():
    hist = Histogram((1, 2, 4))
    for value in (0.5, 1, 1.5, 2, 3, 4, 5, 100):
        hist.observe(value)
    assert hist.counts == [2, 2, 2, 2] and hist.count == 8 and hist.sum == 117.0
    lines = hist.lines("x", 'model="m"')
    assert lines[:4] == [
        'x_bucket{model="m",le="1"} 2',
        'x_bucket{model="m",le="2"} 4',
        'x_bucket{model="m",le="4"} 6',
        'x_bucket{model="m",le="+Inf"} 8',
    ]  # cumulative on export


def test_batches_and_requests_show_in_stats_and_prometheus():
    metrics = ServerMetrics()
    metrics.batch_done(3, [1_000, 2_000_000], 50_000)
    metrics.request_failed(400)
    stats = metrics.triton_stats("lenet", "1")["model_stats"][0]
    assert stats["inference_count"] == 3 and stats["execution_count"] == 1
    assert stats["inference_stats"]["queue"] == {"count": 2, "ns": 2_001_000}
    assert stats["batch_stats"] == [{"batch_size": 3, "compute_infer": {"count": 1, "ns": 50_000}}]
    text = metrics.prometheus("lenet", "1", pending=5)
    assert 'lenet_deploy_batch_size_bucket{model="lenet",version="1",le="4"} 1' in text
    assert 'lenet_deploy_queue_seconds_bucket{model="lenet",version="1",le="0.0001"} 1' in text
    assert 'lenet_deploy_queue_seconds_bucket{model="lenet",version="1",le="0.0025"} 2' in text
    assert 'lenet_deploy_requests_total{model="lenet",version="1",status="400"} 1' in text
    assert 'lenet_deploy_pending_requests{model="lenet",version="1"} 5' in text
