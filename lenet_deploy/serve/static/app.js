"use strict";
// The drawing page: strokes on a transparent canvas, answered in this browser (the recipe in
// recipe.js + onnxruntime-web's wasm build, both served by this server) or, when that is not
// available, by POST v1/predict. ?engine=server forces the server.
// URLs are relative so the page also works when the server is mounted under a prefix.
(() => {
  const $ = (id) => document.getElementById(id);
  const pad = $("pad");
  const ctx = pad.getContext("2d", { willReadFrequently: true });
  const preview = $("preview").getContext("2d");
  const result = $("result");
  const bars = $("bars");
  const INK = "#111418";
  const LIVE_MS = 150;  // live prediction: this long after the pen last moved
  // Strokes of a few digits in a unit box (x right, y down), drawn with the current brush.
  const SAMPLES = {"0":[[[0.5,0.158],[0.443,0.176],[0.37,0.263],[0.337,0.353],[0.32,0.514],[0.332,0.621],[0.381,0.756],[0.429,0.815],[0.514,0.841],[0.571,0.815],[0.639,0.716],[0.668,0.621],[0.679,0.459],[0.663,0.353],[0.608,0.227],[0.557,0.176],[0.5,0.158]]],"2":[[[0.353,0.283],[0.363,0.258],[0.389,0.214],[0.406,0.196],[0.446,0.17],[0.489,0.158],[0.512,0.159],[0.556,0.17],[0.595,0.197],[0.612,0.215],[0.638,0.259],[0.647,0.284],[0.656,0.338],[0.652,0.392],[0.645,0.418],[0.32,0.842],[0.704,0.842]]],"3":[[[0.375,0.242],[0.39,0.217],[0.431,0.179],[0.455,0.166],[0.507,0.158],[0.532,0.162],[0.58,0.186],[0.601,0.206],[0.631,0.255],[0.64,0.284],[0.643,0.344],[0.638,0.374],[0.614,0.428],[0.596,0.45],[0.551,0.481],[0.526,0.49],[0.5,0.492]],[[0.5,0.477],[0.529,0.48],[0.584,0.504],[0.608,0.523],[0.644,0.576],[0.655,0.606],[0.662,0.672],[0.657,0.705],[0.632,0.765],[0.613,0.79],[0.565,0.827],[0.537,0.837],[0.478,0.84],[0.449,0.833],[0.398,0.801],[0.377,0.778],[0.36,0.751]]],"4":[[[0.596,0.842],[0.596,0.158],[0.284,0.622],[0.716,0.622]]],"5":[[[0.656,0.158],[0.398,0.158],[0.396,0.472],[0.454,0.432],[0.486,0.425],[0.552,0.435],[0.609,0.477],[0.631,0.508],[0.658,0.584],[0.659,0.668],[0.65,0.708],[0.612,0.777],[0.557,0.821],[0.524,0.832],[0.459,0.828],[0.4,0.79],[0.376,0.761]]],"7":[[[0.308,0.158],[0.692,0.158],[0.452,0.842]]],"8":[[[0.626,0.325],[0.621,0.28],[0.586,0.203],[0.558,0.177],[0.491,0.158],[0.458,0.168],[0.402,0.22],[0.384,0.259],[0.375,0.348],[0.384,0.392],[0.427,0.462],[0.458,0.483],[0.526,0.489],[0.558,0.474],[0.608,0.412],[0.621,0.37],[0.626,0.325]],[[0.656,0.667],[0.65,0.62],[0.606,0.539],[0.572,0.512],[0.489,0.493],[0.448,0.502],[0.379,0.557],[0.357,0.598],[0.345,0.691],[0.357,0.737],[0.41,0.81],[0.448,0.832],[0.532,0.838],[0.572,0.822],[0.633,0.758],[0.65,0.714],[0.656,0.667]]],"9":[[[0.65,0.348],[0.644,0.297],[0.602,0.209],[0.569,0.179],[0.49,0.158],[0.45,0.169],[0.384,0.228],[0.362,0.272],[0.351,0.374],[0.362,0.424],[0.413,0.503],[0.45,0.527],[0.531,0.534],[0.569,0.517],[0.628,0.447],[0.644,0.399],[0.65,0.348]],[[0.65,0.348],[0.62,0.842]]]};

  // triggers: why each prediction ran ("live", "lift", "button", "sample"), in order.
  const page = { engine: "starting", reason: "", last: null, info: null, triggers: [] };
  window.lenetPage = page;  // what answered and how: for the tests and the benchmark
  let session = null;       // onnxruntime-web InferenceSession when the page runs the model
  let width = Number($("brush").value);
  let active = null;  // pointerId of the stroke being drawn; one stroke at a time
  let last = null;    // last pointer position
  let mid = null;     // where the previous curve segment ended
  let seq = 0;        // newest request; older answers are dropped
  let timer = null;   // the pending live prediction

  const rows = [];
  for (let d = 0; d < 10; d++) {
    const li = document.createElement("li");
    li.dataset.digit = String(d);
    li.innerHTML = `<span aria-hidden="true">${d}</span><span class="track" aria-hidden="true">` +
      `<span class="fill"></span></span><span class="value"></span>`;
    bars.appendChild(li);
    rows.push(li);
  }

  function setBars(probabilities, top) {
    bars.hidden = !probabilities;
    rows.forEach((li, d) => {
      const p = probabilities ? probabilities[d] : 0;
      const text = probabilities ? `${(100 * p).toFixed(1)}%` : "–";
      li.querySelector(".fill").style.width = `${(100 * p).toFixed(2)}%`;
      li.querySelector(".value").textContent = text;
      li.setAttribute("aria-label", `digit ${d}: ${text}`);
      li.classList.toggle("top", d === top);
    });
  }

  function showPreview(pixels) {
    const n = 32;
    const img = preview.createImageData(n, n);
    for (let i = 0; i < n * n; i++) {
      const v = Math.round(255 * (pixels ? pixels[i] : 0));
      img.data.set([v, v, v, 255], 4 * i);
    }
    preview.putImageData(img, 0, 0);
  }

  function show(state, big, message) {
    result.dataset.state = state;
    $("digit").textContent = big;
    $("status").textContent = message;
  }

  const pct = (p) => `${(100 * p).toFixed(1)}%`;

  // The answer fields of lenet_deploy/images/answer.py, for probabilities computed here.
  function answerFor(probabilities, hasDigit) {
    if (!hasDigit) return { no_digit: true, label: null, probability: null, unsure: false,
                            candidates: null, probabilities: null, answer: "no digit" };
    const order = [...probabilities.keys()].sort((a, b) => probabilities[b] - probabilities[a] || a - b);
    const [label, second] = order;
    const unsure = probabilities[label] < page.info.unsure_below;
    return { no_digit: false, label, probability: probabilities[label], unsure,
             candidates: [label, second], probabilities,
             answer: unsure ? `unsure: ${label} or ${second}` : String(label) };
  }

  function render(answer, pixels, path, ms) {
    page.last = { path, ms, answer, pixels: pixels ? Array.from(pixels.flat ? pixels.flat() : pixels) : null };
    result.dataset.path = path;
    $("path").textContent = path === "browser"
      ? "answered in this browser (onnxruntime-web, wasm, 1 thread)"
      : "answered by the server (/v1/predict)";
    $("rtt").textContent = `${ms.toFixed(path === "browser" ? 2 : 1)} ms`;
    showPreview(page.last.pixels);
    if (answer.no_digit) {
      setBars(null, -1);
      show("no-digit", "?", "No digit found. Draw one digit, large and centred.");
    } else if (answer.unsure) {
      const [a, b] = answer.candidates;
      setBars(answer.probabilities, a);
      show("unsure", `${a} or ${b}`, `Unsure: ${a} or ${b} (${pct(answer.probabilities[a])} / ` +
        `${pct(answer.probabilities[b])}, below ${pct(page.info.unsure_below)})`);
    } else {
      setBars(answer.probabilities, answer.label);
      show("done", String(answer.label), `${pct(answer.probability)} sure`);
    }
  }

  async function predictInBrowser(mine) {
    const start = performance.now();
    const image = ctx.getImageData(0, 0, pad.width, pad.height);
    const { pixels, hasDigit } = window.LenetRecipe.prepare(image, page.info.recipe);
    let probabilities = null;
    if (hasDigit) {
      const input = new ort.Tensor("float32", pixels, [1, 1, 32, 32]);
      const out = await session.run({ [session.inputNames[0]]: input });
      const logits = out[session.outputNames[0]].data;
      const top = Math.max(...logits);
      const e = Array.from(logits, (z) => Math.exp(z - top));
      const sum = e.reduce((a, b) => a + b, 0);
      probabilities = e.map((v) => v / sum);
    }
    const ms = performance.now() - start;
    if (mine === seq) render(answerFor(probabilities, hasDigit), pixels, "browser", ms);
  }

  async function predictOnServer(mine) {
    const png = await new Promise((resolve) => pad.toBlob(resolve, "image/png"));
    const start = performance.now();
    const response = await fetch("v1/predict?input=1", {
      method: "POST",
      headers: { "Content-Type": "image/png" },
      body: png,
    });
    const answer = await response.json();
    const ms = performance.now() - start;
    if (mine !== seq) return;
    if (!response.ok) {
      setBars(null, -1);
      show("error", "!", `Error: ${answer.error || response.status}`);
      return;
    }
    render(answer, answer.input.flat(), "server", ms);
  }

  async function predict(trigger = "button") {
    clearTimeout(timer);
    timer = null;
    if (!page.info) return;
    page.triggers.push(trigger);
    const mine = ++seq;
    result.dataset.state = "pending";
    try {
      await (session ? predictInBrowser(mine) : predictOnServer(mine));
    } catch (error) {
      if (mine === seq) show("error", "!", `Error: ${error.message}`);
    }
    if (!session) refreshInfo();
  }

  function later() {  // live prediction while drawing, at most one pending
    clearTimeout(timer);
    timer = setTimeout(() => predict("live"), LIVE_MS);
  }

  function point(event) {
    const box = pad.getBoundingClientRect();
    return {
      x: (event.clientX - box.left) * (pad.width / box.width),
      y: (event.clientY - box.top) * (pad.height / box.height),
    };
  }

  function setupInk() {
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.lineWidth = width;
    ctx.strokeStyle = INK;
    ctx.fillStyle = INK;
  }

  function dot(p) {
    setupInk();
    ctx.beginPath();  // a tap leaves a dot
    ctx.arc(p.x, p.y, width / 2, 0, 2 * Math.PI);
    ctx.fill();
  }

  pad.addEventListener("pointerdown", (event) => {
    if (active !== null || (event.pointerType === "mouse" && event.button !== 0)) return;
    event.preventDefault();
    pad.setPointerCapture(event.pointerId);
    active = event.pointerId;
    last = mid = point(event);
    dot(last);
  });

  pad.addEventListener("pointermove", (event) => {
    if (event.pointerId !== active) return;
    event.preventDefault();
    const events = (event.getCoalescedEvents && event.getCoalescedEvents()) || [];
    for (const e of events.length ? events : [event]) {
      const p = point(e);
      // Quadratic curves through the midpoints: smooth strokes without corners at samples.
      const next = { x: (last.x + p.x) / 2, y: (last.y + p.y) / 2 };
      ctx.beginPath();
      ctx.moveTo(mid.x, mid.y);
      ctx.quadraticCurveTo(last.x, last.y, next.x, next.y);
      ctx.stroke();
      last = p;
      mid = next;
    }
    later();
  });

  function endStroke(event) {
    if (event.pointerId !== active) return;
    ctx.beginPath();
    ctx.moveTo(mid.x, mid.y);
    ctx.lineTo(last.x, last.y);
    ctx.stroke();
    active = null;
    if (event.type === "pointerup") predict("lift");
  }
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);

  function clear() {
    seq++;
    clearTimeout(timer);
    active = null;
    ctx.clearRect(0, 0, pad.width, pad.height);
    setBars(null, -1);
    showPreview(null);
    $("rtt").textContent = "–";
    show("empty", "–", "Draw a digit in the box.");
  }

  function drawSample(digit) {
    clear();
    setupInk();
    const inset = (u, size) => u * size;
    for (const stroke of SAMPLES[digit]) {
      ctx.beginPath();
      stroke.forEach(([x, y], i) => {
        const px = inset(x, pad.width), py = inset(y, pad.height);
        if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
      });
      ctx.stroke();
    }
    predict("sample");
  }

  const samples = document.querySelector(".samples");
  for (const digit of Object.keys(SAMPLES)) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "small";
    button.dataset.sample = digit;
    button.textContent = digit;
    button.setAttribute("aria-label", `Draw a sample ${digit}`);
    button.addEventListener("click", () => drawSample(digit));
    samples.appendChild(button);
  }

  $("brush").addEventListener("input", (event) => {
    width = Number(event.target.value);
    $("brush-value").textContent = `${width} px`;
  });
  $("clear").addEventListener("click", clear);
  $("predict").addEventListener("click", () => predict("button"));
  pad.addEventListener("keydown", (event) => {
    if (event.key === "Escape" || event.key === "Delete") clear();
  });

  function text(id, value) {
    const known = value !== undefined && value !== null && value !== "";
    $(id).textContent = known ? String(value) : "unknown";
  }

  $("copy-sha").addEventListener("click", async () => {
    const sha = page.info && page.info.model_sha256;
    if (!sha) return;
    try {
      await navigator.clipboard.writeText(sha);
      $("copy-sha").textContent = "Copied";
    } catch (error) {  // no clipboard access (not a secure context): select it for Ctrl+C
      const range = document.createRange();
      range.selectNodeContents($("info-sha"));
      $("info-sha").textContent = sha;
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      $("copy-sha").textContent = "Selected";
    }
    setTimeout(() => { $("copy-sha").textContent = "Copy"; }, 1500);
  });

  async function refreshInfo() {
    let served;
    try {
      const response = await fetch("v1/info");
      served = await response.json();
    } catch (error) {
      text("info-runtime", `unavailable (${error.message})`);
      return null;
    }
    page.info = served;
    const device = served.device ? ` on ${served.device}` : "";
    text("info-runtime", served.runtime ? served.runtime + device : "");
    const sha = served.model_sha256 || "";
    text("info-sha", sha ? `${sha.slice(0, 12)}…` : "");
    $("info-sha").title = sha;
    $("copy-sha").disabled = !sha;
    text("info-dataset", served.dataset);
    const acc = served.test_accuracy;
    text("info-accuracy", typeof acc === "number" ? `${(100 * acc).toFixed(2)}%` : "");
    text("info-unsure", pct(served.unsure_below));
    const counters = $("counters");
    counters.replaceChildren();
    for (const [name, count] of Object.entries(served.counters || {})) {
      const dt = document.createElement("dt");
      const dd = document.createElement("dd");
      dt.textContent = name.replaceAll("_", " ");
      dd.textContent = String(count);
      dd.dataset.counter = name;
      counters.append(dt, dd);
    }
    return served;
  }

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = src;
      script.onload = resolve;
      script.onerror = () => reject(new Error(`${src} did not load`));
      document.head.appendChild(script);
    });
  }

  const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");

  // The model in this page: onnxruntime-web (one wasm thread) and the served model, checked
  // against the sha256 the server reports. Any failure leaves the server to answer.
  async function startBrowser(served) {
    if (new URLSearchParams(location.search).get("engine") === "server") return "?engine=server";
    if (!served.browser || !served.browser.available) return served.browser ? served.browser.reason : "not offered";
    if (!window.isSecureContext || !crypto.subtle) return "not a secure context (use loopback or https)";
    await loadScript("ort/ort.wasm.min.js");
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.proxy = false;
    ort.env.wasm.wasmPaths = new URL("ort/", location.href).href;
    const model = await (await fetch("v1/model.onnx")).arrayBuffer();
    const sha = hex(await crypto.subtle.digest("SHA-256", model));
    if (sha !== served.model_sha256) return `the model's sha256 ${sha.slice(0, 12)}… is not the served ${served.model_sha256.slice(0, 12)}…`;
    session = await ort.InferenceSession.create(model, { executionProviders: ["wasm"] });
    return "";
  }

  async function start() {
    $("api-url").textContent = new URL("v1/predict", location.href).href;
    setBars(null, -1);
    showPreview(null);
    const served = await refreshInfo();
    if (!served) return;
    let reason;
    try {
      reason = await startBrowser(served);
    } catch (error) {
      reason = error.message;
      session = null;
    }
    page.engine = session ? "browser" : "server";
    page.reason = reason;
    text("info-browser", session ? "yes: onnxruntime-web, wasm, 1 thread" : `no, the server answers (${reason})`);
    document.body.dataset.engine = page.engine;
  }

  start();
})();
