from pathlib import Path

import pytest

from lenet_deploy.limits import LIMITS, LimitError, check_number, check_size, check_tolerances


def test_the_limits_page_states_every_limit_with_its_value():
    page = (Path(__file__).resolve().parents[1] / "docs" / "limits.md").read_text()
    for name, value in LIMITS.describe():
        row = next((line for line in page.splitlines() if line.startswith(f"| `{name}`")), "")
        assert f"{value:,}" in row, (name, value, row)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0, 11.0, True, "3"])
def test_check_number_refuses_non_finite_and_out_of_range(value):
    with pytest.raises(LimitError, match="lr"):
        check_number("lr", value, 0.0, 10.0, low_inclusive=False)


def test_check_number_accepts_the_range_ends():
    check_number("lr", 10.0, 0.0, 10.0, low_inclusive=False)
    check_number("seed", 0, 0, 5, integer=True)
    with pytest.raises(LimitError, match=r"\(0, 10\]"):
        check_number("lr", 0.0, 0.0, 10.0, low_inclusive=False)


def test_check_size_names_the_limit_and_the_fix():
    check_size("x", 5, 5, "max_x", "do y")
    with pytest.raises(LimitError, match="6 exceeds the limit max_x = 5; do y"):
        check_size("x", 6, 5, "max_x", "do y")


def test_tolerances():
    check_tolerances(0.0, 1e-4)
    with pytest.raises(LimitError, match="rtol"):
        check_tolerances(1e-5, float("inf"))


def test_bench_cap_allows_the_gpu_batch_sizes_and_refuses_beyond():
    from lenet_deploy.bench.runner import BenchSettings
    from lenet_deploy.limits import check_bench_settings

    check_bench_settings(BenchSettings(batch_sizes=(1, 4096, LIMITS.max_bench_batch)))
    with pytest.raises(LimitError, match="max_bench_batch"):
        check_bench_settings(BenchSettings(batch_sizes=(LIMITS.max_bench_batch + 1,)))


def test_tolerances_none_keeps_the_policy_and_nan_is_refused_by_the_policy_too():
    from lenet_deploy.verify.compare import tolerance_for

    check_tolerances(None, None)
    with pytest.raises(LimitError, match="atol"):
        tolerance_for("fp32", atol=float("nan"))
