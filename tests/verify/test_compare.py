"""The one comparison and its tolerance policy (fp32 elementwise, bf16 by accuracy/top-1)."""

import numpy as np
import pytest

from lenet_deploy.errors import LenetDeployError
from lenet_deploy.verify.compare import POLICY, Precision, compare, tolerance_for

WANT = np.array([[1.0, 2.0, 3.0], [10.0, 0.0, -5.0]], np.float32)


def test_identical_outputs_pass():
    same = compare(WANT.copy(), WANT)
    assert same and same.max_abs_diff == 0 and same.top1_agreement == 1 and not same.failures


def test_fp32_known_answers():
    got = WANT.copy()
    got[1, 0] += 0.5  # 10.5 vs 10: 0.5 > 1e-5 + 1e-4 * 10
    c = compare(got, WANT)
    assert not c and c.outside_tolerance == 1 and c.top1_agreement == 1.0
    assert c.max_abs_diff == pytest.approx(0.5) and c.max_rel_diff == pytest.approx(0.05)
    assert "1 elements outside" in c.failures[0]
    got[0] = [3.0, 2.0, 1.0]  # top-1 flips on row 0, within a huge tolerance
    loose = compare(got, WANT, tolerance_for("fp32", atol=10, rtol=10))
    assert not loose and loose.outside_tolerance == 0 and loose.top1_agreement == 0.5


def test_fp32_boundary_is_inclusive():
    want = np.array([[100.0, 50.0]], np.float32)
    tol = tolerance_for("fp32", atol=0.25, rtol=0.0)
    exactly = want + np.float32(0.25)  # |diff| == atol exactly (representable in float32)
    assert compare(exactly, want, tol).outside_tolerance == 0
    beyond = want + np.float32(0.375)
    assert compare(beyond, want, tol).outside_tolerance == 2


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_anywhere_fails(precision, bad):
    got = np.tile(WANT, (500, 1))
    got[3, 1] = bad
    c = compare(got, np.tile(WANT, (500, 1)), precision)
    assert not c and "1 NaN/inf" in c.failures[0] and c.max_abs_diff == float("inf")
    assert not compare(np.tile(WANT, (500, 1)), got, precision)  # in the reference too


def test_shape_mismatch_fails():
    c = compare(WANT[:1], WANT)
    assert not c and "shape" in c.failures[0]


def _logits(n, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    logits = rng.normal(0, 1, (n, 10)).astype(np.float32)
    logits[np.arange(n), labels] += 5  # confident, correct answers
    return logits, labels


def test_bf16_tolerates_small_noise_that_fp32_refuses():
    want, labels = _logits(2000, 0)
    got = want + np.random.default_rng(1).normal(0, 0.02, want.shape).astype(np.float32)
    assert not compare(got, want, "fp32")
    bf16 = compare(got, want, "bf16", labels=labels)
    assert bf16 and bf16.tolerance.precision is Precision.BF16


def test_bf16_top1_agreement_threshold():
    want, _ = _logits(1000, 2)

    def with_flips(k):
        got = want.copy()
        for i in range(k):  # move row i's answer to another class
            got[i, (want[i].argmax() + 1) % 10] = want[i].max() + 1
        return got

    assert compare(with_flips(5), want, "bf16")  # 99.5% agreement: the threshold passes
    c = compare(with_flips(6), want, "bf16")  # 99.4%
    assert not c and "top-1 agreement 99.40%" in c.failures[0]


def test_bf16_accuracy_drop_is_judged_in_percentage_points():
    want, labels = _logits(1000, 3)
    sets = {"a": want[:500], "b": want[500:]}
    names = {"a": labels[:500], "b": labels[500:]}
    got = {k: v.copy() for k, v in sets.items()}
    # three flips away from the right answer: accuracy drops 0.3 pp, agreement stays 99.7%
    for i in range(3):
        got["a"][i, (labels[i] + 1) % 10] = 100
    c = compare(got, sets, "bf16", labels=names)
    assert not c and c.top1_agreement == pytest.approx(0.997)
    assert "more than 0.2 pp below" in c.failures[0]
    assert c.reference_accuracy - c.accuracy == pytest.approx(0.003)
    got["a"][2] = sets["a"][2]  # two flips: 0.2 pp is allowed
    assert compare(got, sets, "bf16", labels=names)


def test_policy_is_one_table():
    assert POLICY[Precision.FP32].elementwise and not POLICY[Precision.BF16].elementwise
    assert POLICY[Precision.BF16].min_top1_agreement == 0.995
    assert POLICY[Precision.BF16].max_accuracy_drop == 0.002
    with pytest.raises(LenetDeployError, match="unknown precision 'fp8'"):
        tolerance_for("fp8")
    with pytest.raises(LenetDeployError, match=r"atol must be a finite number in \[0, "):
        tolerance_for("fp32", atol=-1)
    with pytest.raises(LenetDeployError, match="rtol must be a finite number"):
        tolerance_for("fp32", rtol=float("inf"))  # inf would pass everything
