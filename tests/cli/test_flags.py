"""Issue 21, item 1: one set of flags across commands (lenet_deploy/cli/flags.py)."""

import argparse
import http.server
import json
import threading

import pytest
from conftest import assert_one_line_error, run_cli

from lenet_deploy.artifacts.served import model_url
from lenet_deploy.cli import COMMANDS, build_parser
from lenet_deploy.cli._settings import concurrency_levels
from lenet_deploy.cli.flags import check_arguments, runtimes_given
from lenet_deploy.errors import ArtifactKindError, LenetDeployError, did_you_mean


def parse(*argv):
    return build_parser().parse_args(list(argv))


def test_runtime_is_repeatable_and_comma_separated_with_runtimes_as_alias():
    args = parse("bench", "--runtime", "ort-cpu,ov-cpu", "--runtimes", "torch-cpu")
    assert args.runtime == ["ort-cpu", "ov-cpu", "torch-cpu"]
    assert parse("verify", "--runtimes", "ort-cpu, ov-cpu").runtime == ["ort-cpu", "ov-cpu"]
    assert runtimes_given(parse("verify", "--runtime", "all,ort-cpu")) is None
    for command in ("pipeline", "train", "runtimes", "package"):
        assert not hasattr(parse(command), "runtime") or parse(command).runtime is None


def test_model_everywhere_and_export_keeps_checkpoint():
    for command in ("verify", "bench", "serve", "package"):
        assert parse(command, "--model", "m.onnx").model == "m.onnx"
    assert parse("predict", "--model", "m.onnx", "x.png").model == "m.onnx"
    assert parse("export", "--checkpoint", "a.pt").model == "a.pt"
    assert parse("export", "--model", "a.pt").model == "a.pt"


@pytest.mark.parametrize("command", [c for c in COMMANDS if c != "serve"])
def test_one_machine_output_convention(command):
    """--json: stdout; --json-file PATH: a file; '--json PATH' (old) where no positionals."""
    extra = ["x.png"] if command == "predict" else []
    assert parse(command, *extra, "--json").json_out == "-"
    assert parse(command, *extra, "--json-file", "o.json").json_out == "o.json"
    if command != "predict":
        assert parse(command, "--json", "o.json").json_out == "o.json"
    else:  # a path after --json would be an image
        assert parse(command, "--json", "o.png").images == ["o.png"]
    if command == "pipeline":
        assert parse(command, "--report", "r.json").json_out == "r.json"


def test_json_on_stdout_is_only_json(exported_dir):
    proc = run_cli("runtimes", "--json")
    assert proc.returncode == 0 and {r["name"] for r in json.loads(proc.stdout)} >= {"ort-cpu"}
    proc = run_cli("package", "--model", str(exported_dir), "--json", cwd=exported_dir)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["model_sha256"]


def test_every_help_shows_real_defaults():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        text = sub.format_help()
        assert "TrainConfig." not in text and "BenchSettings." not in text, name
        for action in sub._actions:
            default = action.default
            if action.help in (None, argparse.SUPPRESS) or default in (None, False, []):
                continue
            if default == argparse.SUPPRESS or action.nargs == 0:  # flags: on or off
                continue
            assert "default" in action.help or "%(default)" in action.help, (name, action.dest)
    train_help = subparsers.choices["train"].format_help()
    assert "default: 30" in train_help and "default: 32" in train_help  # TrainConfig's values


def test_model_url_forms():
    full = "http://127.0.0.1:8000/v2/models/lenet"
    assert model_url(full) == full
    assert model_url(full + "/versions/2") == full + "/versions/2"
    assert model_url("127.0.0.1:8000", discover=False) == full
    assert model_url("http://127.0.0.1:8000/", discover=False) == full
    assert model_url("[::1]:9", discover=False) == "http://[::1]:9/v2/models/lenet"
    assert model_url("artifacts") is None and model_url("a/lenet.onnx") is None
    with pytest.raises(ArtifactKindError, match="not a served model"):
        model_url("http://127.0.0.1:8000/v1/predict")


def test_host_port_that_is_an_existing_path_stays_a_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "box:8000").mkdir()
    assert model_url("box:8000") is None


def test_model_name_defaults_to_the_one_the_server_serves():
    class Index(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            body = json.dumps([{"name": "digits", "state": "READY"}]).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Index)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        assert model_url(f"127.0.0.1:{port}") == f"http://127.0.0.1:{port}/v2/models/digits"
    finally:
        server.shutdown()


def test_a_url_picks_oip_http_in_predict():
    args = parse("predict", "--model", "http://127.0.0.1:1/v2/models/lenet", "x.png")
    check_arguments(args)
    assert args.runtime == ["oip-http"]
    args = parse("predict", "--model", "127.0.0.1:1", "x.png")  # nothing listens: no discovery
    check_arguments(args)
    assert args.model == "http://127.0.0.1:1/v2/models/lenet" and args.runtime == ["oip-http"]
    args = parse("predict", "--runtime", "ort-cpu,ov-cpu", "x.png")
    with pytest.raises(LenetDeployError, match="predict runs one runtime"):
        check_arguments(args)


def test_concurrency_takes_perf_analyzer_ranges():
    assert concurrency_levels("1:64:8") == (1, 9, 17, 25, 33, 41, 49, 57)
    assert concurrency_levels("1:4") == (1, 2, 3, 4)
    assert concurrency_levels("1,8,64") == (1, 8, 64)
    assert concurrency_levels("1,2:6:2,4") == (1, 2, 4, 6)
    for bad in ("0", "4:1", "1::2", "a", "1:10000000000"):
        with pytest.raises(argparse.ArgumentTypeError):
            concurrency_levels(bad)
    assert parse("bench", "--concurrency", "1:64:8").concurrency[-1] == 57


@pytest.mark.parametrize(
    ("given", "suggested"),
    [("ort", "'ort-cpu'"), ("ort_cpu", "'ort-cpu'"), ("onnxruntime", "'ort-cpu'"),
     ("openvino", "'ov-cpu'"), ("torch", "'torch-cpu'"), ("ORT-CPU", "'ort-cpu'")],
)  # fmt: skip
def test_runtime_typos_get_did_you_mean(given, suggested):
    args = parse("bench", "--runtime", given)
    with pytest.raises(LenetDeployError, match=f"unknown runtime '{given}'") as info:
        check_arguments(args)
    assert f"did you mean {suggested}" in str(info.value)


def test_dataset_and_format_typos_get_did_you_mean():
    assert "'mnist:DIR'" in did_you_mean("mnist", ("mnist5k", "digits", "mnist:DIR"))
    assert did_you_mean("cifar10", ("mnist5k", "digits")) == ""
    proc = run_cli("train", "--data", "digit")
    assert_one_line_error(proc, "unknown dataset 'digit'", "did you mean 'digits'?")
    proc = run_cli("package", "--format", "trito")
    assert proc.returncode == 2 and "did you mean 'triton'?" in proc.stderr
    proc = run_cli("bench", "--tensors", "jsn", "--concurrency", "1")
    assert proc.returncode == 2 and "did you mean 'json'?" in proc.stderr
