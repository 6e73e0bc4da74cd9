import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from conftest import assert_one_line_error, run_cli
from onnx import numpy_helper

from lenet_deploy.artifacts.layout import file_sha256
from lenet_deploy.errors import ExportError
from lenet_deploy.exporters.onnx import export_onnx, read_metadata, run_gates
from lenet_deploy.images.recipe import RECIPE
from lenet_deploy.model.lenet import LeNet, load_checkpoint


@pytest.fixture(scope="module", params=["dynamo", "torchscript"])
def exported(request, trained_dir, digits, tmp_path_factory):
    path = tmp_path_factory.mktemp(request.param) / "model.onnx"
    report = export_onnx(
        trained_dir / "lenet.pt", path, exporter=request.param, parity_images=digits.x_test
    )
    return request.param, path, report


@pytest.mark.slow
def test_round_trip_is_one_self_contained_file(exported):
    exporter, path, report = exported
    assert (
        report
        and report.path == path
        and [g.name for g in report.gates]
        == [
            "checker",
            "shapes",
            "parity",
        ]
    )
    assert list(path.parent.iterdir()) == [path]  # no .data file beside it, no temp leftovers
    proto = onnx.load(str(path))
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer)
    (inp,) = proto.graph.input
    (out,) = proto.graph.output
    assert inp.name == "image" and out.name == "logits"
    in_dims = inp.type.tensor_type.shape.dim
    assert in_dims[0].dim_param and [d.dim_value for d in in_dims[1:]] == [1, 32, 32]
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert proto.opset_import[0].version == report.opset == 20


@pytest.mark.slow
@pytest.mark.parametrize("batch", [1, 3, 7, 1000])
def test_exported_file_matches_torch(exported, trained_dir, digits, batch):
    _, path, _ = exported
    model, _ = load_checkpoint(trained_dir / "lenet.pt")
    x = np.resize(digits.x_test, (batch, 1, 32, 32)).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": x})[0]
    with torch.inference_mode():
        want = model(torch.from_numpy(x)).numpy()
    assert got.shape == (batch, 10) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-4)
    assert (got.argmax(1) == want.argmax(1)).all()


def test_metadata_is_present_and_correct(exported, trained_dir):
    exporter, path, _ = exported
    meta = read_metadata(path)
    _, ckpt_meta = load_checkpoint(trained_dir / "lenet.pt")
    assert meta["class_labels"] == "0,1,2,3,4,5,6,7,8,9"
    assert meta["input_range"] == "0,1" and meta["input_shape"] == "batch,1,32,32"
    assert meta["source_checkpoint_sha256"] == file_sha256(trained_dir / "lenet.pt")
    assert meta["dataset"] == "digits" and meta["test_size"] == "450"
    assert float(meta["test_accuracy"]) == pytest.approx(ckpt_meta["test_accuracy"])
    assert meta["preprocessing"] == RECIPE and meta["precision"] == "float32"
    assert meta["input_polarity"].startswith("bright digit on a dark background")
    assert meta["normalization"].startswith("inside the graph: (x - 0.")
    assert meta["tensor.image"].startswith("float32 [batch,1,32,32]")
    docs = {
        v.name: v.doc_string
        for v in [*onnx.load(str(path)).graph.input, *onnx.load(str(path)).graph.output]
    }
    assert docs["image"] == meta["tensor.image"] and docs["logits"] == meta["tensor.logits"]
    assert meta["exporter"] == exporter and meta["opset"] == "20"
    assert meta["torch_version"] == str(torch.__version__)
    assert meta["onnx_version"] == onnx.__version__ and meta["created"]
    proto = onnx.load(str(path))
    assert proto.producer_name == "lenet-deploy" and proto.model_version == 1
    assert "[0,1]" in proto.doc_string


def test_normalisation_is_inside_the_graph(exported, trained_dir, digits):
    """Raw [0, 1] pixels in: the graph output equals the model applied to unnormalised pixels."""
    _, path, _ = exported
    model, _ = load_checkpoint(trained_dir / "lenet.pt")
    assert float(model.mean) != 0.0
    x = digits.x_test[:5]
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"image": x}
    )[0]
    with torch.inference_mode():
        raw_net = model.net(torch.from_numpy(x)).numpy()  # without normalisation: different
    assert not np.allclose(got, raw_net, atol=1e-3)


def _altered(path, scale=1.01):
    proto = onnx.load(str(path))
    init = max(proto.graph.initializer, key=lambda t: np.prod(t.dims))  # fc1.weight
    weights = numpy_helper.to_array(init) * np.float32(scale)
    init.CopyFrom(numpy_helper.from_array(weights.astype(np.float32), init.name))
    return proto


@pytest.mark.slow
def test_altered_weight_fails_the_parity_gate(exported, trained_dir, digits):
    _, path, _ = exported
    model, _ = load_checkpoint(trained_dir / "lenet.pt")
    gates = run_gates(_altered(path), model, digits.x_test)
    assert [g.passed for g in gates] == [True, True, False]
    assert (
        "elements outside |a-b| <=" in gates[2].detail and "batch 1 (1 images)" in gates[2].detail
    )


@pytest.mark.slow
def test_nan_output_fails_the_parity_gate(exported, trained_dir, digits, monkeypatch):
    """A NaN logit is a failure in the gate as in verify (``diff > tol`` is False for NaN)."""
    _, path, _ = exported
    model, _ = load_checkpoint(trained_dir / "lenet.pt")
    real = ort.InferenceSession.run

    def one_nan(self, *a, **k):
        out = real(self, *a, **k)
        out[0][0, 0] = np.nan
        return out

    monkeypatch.setattr(ort.InferenceSession, "run", one_nan)
    gates = run_gates(onnx.load(str(path)), model, digits.x_test, batches=(1, 3))
    assert [g.passed for g in gates] == [True, True, False]
    assert "NaN/inf" in gates[2].detail


def _export(path, **kw):
    return export_onnx(LeNet(), path, **kw)


@pytest.fixture
def good_file(tmp_path, digits):
    path = tmp_path / "good.onnx"
    torch.manual_seed(0)
    export_onnx(LeNet(), path, exporter="torchscript", parity_images=digits.x_test[:8])
    return path, path.read_bytes()


def _inject_checker(monkeypatch):
    def broken(*a, **k):
        raise onnx.checker.ValidationError("injected checker failure")

    monkeypatch.setattr(onnx.checker, "check_model", broken)


def _inject_shapes(monkeypatch):
    real = onnx.shape_inference.infer_shapes

    def wrong(proto, *a, **k):
        inferred = real(proto, *a, **k)
        inferred.graph.output[0].type.tensor_type.shape.dim[1].dim_value = 11
        return inferred

    monkeypatch.setattr(onnx.shape_inference, "infer_shapes", wrong)


def _inject_parity(monkeypatch):
    real = ort.InferenceSession.run

    def off(self, *a, **k):
        return [o + 1e-3 for o in real(self, *a, **k)]

    monkeypatch.setattr(ort.InferenceSession, "run", off)


@pytest.mark.parametrize(
    "inject,gate",
    [
        (_inject_checker, "checker"),
        (_inject_shapes, "shapes"),
        (_inject_parity, "parity"),
    ],
)
@pytest.mark.slow
def test_failed_gate_leaves_existing_file_intact(good_file, digits, monkeypatch, inject, gate):
    path, before = good_file
    inject(monkeypatch)
    torch.manual_seed(1)  # different weights: a successful write would change the bytes
    with pytest.raises(ExportError) as err:
        export_onnx(LeNet(), path, exporter="torchscript", parity_images=digits.x_test[:8])
    assert [f.split(":")[0] for f in err.value.failures] == [gate]
    assert "was not written" in str(err.value)
    assert path.read_bytes() == before
    assert list(path.parent.iterdir()) == [path]


@pytest.mark.slow
def test_every_failed_gate_is_reported(good_file, digits, monkeypatch):
    path, before = good_file
    for inject in (_inject_checker, _inject_shapes, _inject_parity):
        inject(monkeypatch)
    with pytest.raises(ExportError) as err:
        export_onnx(LeNet(), path, exporter="torchscript", parity_images=digits.x_test[:8])
    assert [f.split(":")[0] for f in err.value.failures] == ["checker", "shapes", "parity"]
    assert path.read_bytes() == before


@pytest.mark.slow
def test_plain_state_dict_says_none_and_bakes_mean_std(tmp_path, digits):
    net = LeNet().eval()
    torch.save(net.state_dict(), tmp_path / "tut.pt")
    export_onnx(
        tmp_path / "tut.pt",
        tmp_path / "plain.onnx",
        exporter="torchscript",
        parity_images=digits.x_test[:8],
    )
    meta = read_metadata(tmp_path / "plain.onnx")
    assert meta["normalization"].startswith("none")
    assert not {"dataset", "test_accuracy", "test_size"} & set(meta)  # unknown: not written
    export_onnx(
        tmp_path / "tut.pt",
        tmp_path / "norm.onnx",
        exporter="torchscript",
        parity_images=digits.x_test[:8],
        mean=0.1307,
        std=0.3081,
    )
    assert read_metadata(tmp_path / "norm.onnx")["normalization"] == (
        "inside the graph: (x - 0.1307) / 0.3081"
    )
    session = ort.InferenceSession(str(tmp_path / "norm.onnx"), providers=["CPUExecutionProvider"])
    x = digits.x_test[:4]
    with torch.inference_mode():
        want = net((torch.from_numpy(x) - 0.1307) / 0.3081).numpy()
    np.testing.assert_allclose(session.run(None, {"image": x})[0], want, atol=1e-5, rtol=1e-4)


def test_mean_std_refused_on_a_checkpoint_that_normalises(trained_dir, tmp_path):
    with pytest.raises(ExportError, match="second normalisation"):
        export_onnx(trained_dir / "lenet.pt", tmp_path / "m.onnx", mean=0.1, std=0.3)
    with pytest.raises(ExportError, match="together"):
        export_onnx(trained_dir / "lenet.pt", tmp_path / "m.onnx", mean=0.1)


def test_unsupported_opset_and_exporter(tmp_path):
    with pytest.raises(ExportError, match="opset 12 is not supported by the dynamo exporter"):
        export_onnx(LeNet(), tmp_path / "m.onnx", opset=12)
    with pytest.raises(ExportError, match="unknown exporter"):
        export_onnx(LeNet(), tmp_path / "m.onnx", exporter="tensorrt")
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_opset_is_honoured_and_recorded(tmp_path, digits):
    report = export_onnx(
        LeNet(),
        tmp_path / "m.onnx",
        opset=13,
        exporter="torchscript",
        parity_images=digits.x_test[:4],
    )
    assert onnx.load(str(tmp_path / "m.onnx")).opset_import[0].version == 13
    assert read_metadata(tmp_path / "m.onnx")["opset"] == "13" and report.opset == 13


# ---------------------------------------------------------------- CLI bad input
@pytest.fixture
def existing(tmp_path):
    target = tmp_path / "out" / "lenet.onnx"
    target.parent.mkdir()
    target.write_bytes(b"previous good model")
    return target


def _assert_untouched(existing):
    assert existing.read_bytes() == b"previous good model"
    assert list(existing.parent.iterdir()) == [existing]


@pytest.mark.slow
def test_cli_missing_checkpoint(tmp_path, existing):
    proc = run_cli("export", "--checkpoint", str(tmp_path / "nope.pt"), "--out", str(existing))
    assert_one_line_error(proc, "not found", "lenet-deploy train")
    _assert_untouched(existing)


@pytest.mark.slow
def test_cli_other_architecture(tmp_path, existing):
    other = torch.nn.Sequential(torch.nn.Linear(4, 2))
    torch.save(other.state_dict(), tmp_path / "other.pt")
    proc = run_cli("export", "--checkpoint", str(tmp_path / "other.pt"), "--out", str(existing))
    assert_one_line_error(proc, "not a LeNet")
    _assert_untouched(existing)


@pytest.mark.slow
def test_cli_wrong_shapes(tmp_path, existing):
    sd = LeNet().state_dict()
    sd["conv1.weight"] = torch.zeros(8, 1, 5, 5)
    torch.save(sd, tmp_path / "wide.pt")
    proc = run_cli("export", "--checkpoint", str(tmp_path / "wide.pt"), "--out", str(existing))
    assert_one_line_error(proc, "wrong shapes", "conv1.weight")
    _assert_untouched(existing)


@pytest.mark.slow
def test_cli_not_a_checkpoint(tmp_path, existing):
    (tmp_path / "notes.pt").write_text("hello")
    proc = run_cli("export", "--checkpoint", str(tmp_path / "notes.pt"), "--out", str(existing))
    assert_one_line_error(proc, "not a loadable checkpoint")
    _assert_untouched(existing)


@pytest.mark.slow
def test_cli_unwritable_output(trained_dir, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run_cli(
        "export",
        "--checkpoint",
        str(trained_dir / "lenet.pt"),
        "--out",
        str(blocker / "lenet.onnx"),
    )
    assert_one_line_error(proc, "cannot write to output directory")


@pytest.mark.slow
def test_cli_unsupported_opset(trained_dir, existing):
    proc = run_cli(
        "export",
        "--checkpoint",
        str(trained_dir / "lenet.pt"),
        "--opset",
        "99",
        "--out",
        str(existing),
    )
    assert_one_line_error(proc, "opset 99", "--opset 18..23")
    _assert_untouched(existing)


@pytest.mark.slow
def test_cli_gate_failure_lists_every_check_once(good_file, digits, monkeypatch, capsys):
    """Real gates fail (no mocked exporter): each failure is printed once, plus one error line."""
    from lenet_deploy import cli

    path, before = good_file
    _inject_checker(monkeypatch)
    _inject_parity(monkeypatch)
    ckpt = path.parent / "other.pt"
    torch.manual_seed(1)
    torch.save(LeNet().state_dict(), ckpt)
    code = cli.main(["export", "--checkpoint", str(ckpt), "--out", str(path), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err.splitlines()
    failed = [line for line in err if line.startswith("  FAILED")]
    assert [line.split()[1] for line in failed] == ["checker:", "parity:"]
    assert "injected checker failure" in failed[0] and "elements outside" in failed[1]
    (error,) = [line for line in err if "error:" in line]
    assert "failed 2 of 3 gates (checker, parity)" in error
    for detail in ("injected checker failure", "elements outside"):
        assert sum(detail in line for line in err) == 1  # not repeated in the error line
    assert path.read_bytes() == before


@pytest.mark.slow
def test_cli_default_checkpoint_is_trained_first(tmp_path, monkeypatch, capsys):
    import functools

    from lenet_deploy import cli
    from lenet_deploy.model import train

    # The real default (mnist5k, 30 epochs) is a benchmark's job; one epoch on digits here.
    quick = functools.partial(train.TrainConfig, data="digits", epochs=1)
    monkeypatch.setattr(train, "TrainConfig", quick)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["export", "--exporter", "torchscript"]) == 0
    out, err = capsys.readouterr()
    assert "lenet.pt not found: training on digits for 1 epochs" in err
    assert (tmp_path / "artifacts" / "lenet.pt").exists()
    assert (tmp_path / "artifacts" / "lenet.onnx").exists()
    assert "all 3 gates passed" in out


@pytest.mark.slow
def test_cli_mean_needs_std(trained_dir, tmp_path):
    proc = run_cli(
        "export",
        "--checkpoint",
        str(trained_dir / "lenet.pt"),
        "--out",
        str(tmp_path / "m.onnx"),
        "--mean",
        "0.1307",
    )
    assert_one_line_error(proc, "give --mean and --std together")
    assert not (tmp_path / "m.onnx").exists()
