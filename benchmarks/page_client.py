"""The drawing page answers a drawing in the browser: time from the canvas to the answer.

Starts ``lenet-deploy serve`` on loopback with the model, opens the page in Debian's headless
Chromium (selenium + /usr/bin/chromedriver), waits until the page runs the model itself
(onnxruntime-web, one wasm thread), then draws each sample digit with three brush sizes and
presses Predict ``--repeat`` times per drawing. Each time is the page's own ``performance.now()``
around one answer: reading the canvas, the JavaScript recipe (crop, fit 20x20, centre of mass,
pad to 32), ``session.run`` and the softmax. For comparison the same drawings are answered by
the server (``?engine=server``: PNG upload, /v1/predict, round trip), interleaved.

Target: p50 <= 5 ms client-side, preprocessing included.

    python benchmarks/page_client.py [--model artifacts] [--repeat 20] [--screenshot PATH]

``--screenshot docs/screenshot.png`` also writes the README's screenshot: a drawn 7.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
BRUSHES = (12, 28, 44)


def start_server(model: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "lenet_deploy", "serve", "--model", model, "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    line = proc.stdout.readline()
    if " at http://127.0.0.1:" not in line:
        proc.kill()
        raise SystemExit(f"server did not start: {line!r} {proc.stderr.read()[-2000:]}")
    return proc, line.split(" at ", 1)[1].split("/v2/", 1)[0]


def open_browser(profile: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # never download a browser
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-dev-shm-usage",
        "--window-size=1100,760",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)  # fmt: skip
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(60)
    return driver


def load(driver, url: str, engine: str) -> str:
    driver.get(f"{url}/?engine={engine}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        got = driver.execute_script("return window.lenetPage && window.lenetPage.engine;")
        if got not in (None, "starting"):
            return got
        time.sleep(0.1)
    raise SystemExit("the page did not start within 60 s")


ANSWER_TIMES = """
const [digit, brush, repeat, done] = arguments;
(async () => {
  const b = document.getElementById('brush');
  b.value = brush; b.dispatchEvent(new Event('input'));
  const settle = () => new Promise((resolve) => {
    const poll = () => document.getElementById('result').dataset.state === 'pending'
      ? setTimeout(poll, 0) : resolve();
    poll();
  });
  document.querySelector(`[data-sample="${digit}"]`).click();
  await settle();
  const times = [];
  for (let i = 0; i < repeat; i++) {
    document.getElementById('predict').click();
    await settle();
    times.push(window.lenetPage.last.ms);
  }
  done({ times, path: window.lenetPage.last.path, answer: window.lenetPage.last.answer.answer });
})();
"""


def measure(driver, digits, repeat: int) -> tuple[list[float], list[str]]:
    times, answers = [], []
    for digit in digits:
        for brush in BRUSHES:
            out = driver.execute_async_script(ANSWER_TIMES, digit, brush, repeat)
            times += out["times"][1:]  # the first answer of a drawing warms its code paths
            answers.append(f"{digit}->{out['answer']}")
    return times, answers


def summary(name: str, times: list[float]) -> str:
    t = np.asarray(times)
    p50, p90, p99 = np.percentile(t, [50, 90, 99])
    return (f"{name:<26} n={len(t):>4}  p50 {p50:6.2f} ms  p90 {p90:6.2f} ms  "
            f"p99 {p99:6.2f} ms  min {t.min():6.2f} ms")  # fmt: skip


def screenshot(driver, url: str, path: str) -> None:
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput

    load(driver, url, "auto")
    left, top, width, height = driver.execute_script(
        "const r = document.getElementById('pad').getBoundingClientRect();"
        "return [r.left, r.top, r.width, r.height];"
    )
    seven = [
        [(0.22, 0.15), (0.78, 0.15)],
        [(0.78, 0.15), (0.40, 0.90)],
        [(0.45, 0.52), (0.75, 0.52)],
    ]
    for n, (a, b) in enumerate(seven):
        pen = PointerInput("pen", f"pen-{n}")
        actions = ActionBuilder(driver, mouse=pen, duration=15)
        for i in range(11):
            x, y = a[0] + (b[0] - a[0]) * i / 10, a[1] + (b[1] - a[1]) * i / 10
            actions.pointer_action.move_to_location(
                round(left + x * width), round(top + y * height)
            )
            if i == 0:
                actions.pointer_action.pointer_down()
        actions.pointer_action.pointer_up()
        actions.perform()
    time.sleep(1.0)
    driver.save_screenshot(path)
    answer = driver.execute_script("return window.lenetPage.last.answer.answer;")
    print(f"wrote {path}: the page answered {answer!r}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="artifacts", help="artifacts folder or lenet.onnx")
    ap.add_argument("--repeat", type=int, default=20, help="answers per drawing (default: 20)")
    ap.add_argument("--rounds", type=int, default=2, help="browser/server alternations (2)")
    ap.add_argument("--screenshot", metavar="PATH", help="also write a screenshot of a drawn 7")
    args = ap.parse_args()

    proc, url = start_server(args.model)
    profile = tempfile.mkdtemp(prefix="page-bench-")
    driver = open_browser(profile)
    try:
        if args.screenshot:  # first, so the panel shows a fresh server
            screenshot(driver, url, args.screenshot)
        print(f"load: {os.getloadavg()[0]:.2f} (1-min average) on {os.cpu_count()} CPUs")
        if load(driver, url, "auto") != "browser":
            reason = driver.execute_script("return window.lenetPage.reason;")
            raise SystemExit(f"the page cannot run the model itself: {reason}")
        digits = driver.execute_script(
            "return [...document.querySelectorAll('[data-sample]')].map(b => b.dataset.sample);"
        )
        browser, server, answers = [], [], []
        for _ in range(args.rounds):  # interleaved: both paths see the same machine load
            load(driver, url, "auto")
            times, answers = measure(driver, digits, args.repeat)
            browser += times
            load(driver, url, "server")
            server += measure(driver, digits, max(3, args.repeat // 4))[0]
        print(f"drawings: {len(digits)} sample digits x brushes {BRUSHES}: {' '.join(answers)}")
        print(summary("in the page (wasm, 1 thr)", browser))
        print(summary("server (/v1/predict RTT)", server))
        p50 = float(np.percentile(browser, 50))
        print(f"load: {os.getloadavg()[0]:.2f} (1-min average)")
        print(f"{'PASS' if p50 <= 5.0 else 'FAIL'}: client-side p50 {p50:.2f} ms (target <= 5 ms)")
    finally:
        driver.quit()
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()
