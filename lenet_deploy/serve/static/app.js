"use strict";
// The drawing page: strokes on a transparent canvas, sent as PNG to v1/predict.
// URLs are relative so the page also works when the server is mounted under a prefix.
(() => {
  const pad = document.getElementById("pad");
  const ctx = pad.getContext("2d");
  const result = document.getElementById("result");
  const digit = document.getElementById("digit");
  const status = document.getElementById("status");
  const rtt = document.getElementById("rtt");
  const bars = document.getElementById("bars");
  // About MNIST's stroke width once a digit is scaled into its 20x20 box.
  const INK = "#111418";
  const WIDTH = pad.width / 10;

  let active = null;  // pointerId of the stroke being drawn; one stroke at a time
  let last = null;    // last pointer position
  let mid = null;     // where the previous curve segment ended
  let seq = 0;        // newest request; older answers are dropped

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
    rows.forEach((li, d) => {
      const p = probabilities ? probabilities[d] : 0;
      const text = probabilities ? `${(100 * p).toFixed(1)}%` : "–";
      li.querySelector(".fill").style.width = `${(100 * p).toFixed(2)}%`;
      li.querySelector(".value").textContent = text;
      li.setAttribute("aria-label", `digit ${d}: ${text}`);
      li.classList.toggle("top", d === top);
    });
  }

  function show(state, big, message) {
    result.dataset.state = state;
    digit.textContent = big;
    status.textContent = message;
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
    ctx.lineWidth = WIDTH;
    ctx.strokeStyle = INK;
    ctx.fillStyle = INK;
  }

  pad.addEventListener("pointerdown", (event) => {
    if (active !== null || (event.pointerType === "mouse" && event.button !== 0)) return;
    event.preventDefault();
    pad.setPointerCapture(event.pointerId);
    active = event.pointerId;
    last = mid = point(event);
    setupInk();
    ctx.beginPath();  // a tap leaves a dot
    ctx.arc(last.x, last.y, WIDTH / 2, 0, 2 * Math.PI);
    ctx.fill();
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
  });

  function endStroke(event) {
    if (event.pointerId !== active) return;
    ctx.beginPath();
    ctx.moveTo(mid.x, mid.y);
    ctx.lineTo(last.x, last.y);
    ctx.stroke();
    active = null;
    if (event.type === "pointerup") predict();
  }
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);

  async function predict() {
    const mine = ++seq;
    result.dataset.state = "pending";
    status.textContent = "Reading…";
    try {
      const png = await new Promise((resolve) => pad.toBlob(resolve, "image/png"));
      const start = performance.now();
      const response = await fetch("v1/predict", {
        method: "POST",
        headers: { "Content-Type": "image/png" },
        body: png,
      });
      const answer = await response.json();
      const ms = performance.now() - start;
      if (mine !== seq) return;
      rtt.textContent = `${ms.toFixed(1)} ms`;
      if (!response.ok) {
        setBars(null, -1);
        show("error", "!", `Error: ${answer.error || response.status}`);
      } else if (answer.no_digit) {
        setBars(answer.probabilities, -1);
        show("no-digit", "?", "No digit found. Draw one digit, large and centred.");
      } else {
        const p = answer.probabilities[answer.label];
        setBars(answer.probabilities, answer.label);
        show("done", String(answer.label), `${(100 * p).toFixed(1)}% sure`);
      }
    } catch (error) {
      if (mine === seq) show("error", "!", `Error: ${error.message}`);
    }
    refreshInfo();
  }

  function clear() {
    seq++;
    active = null;
    ctx.clearRect(0, 0, pad.width, pad.height);
    setBars(null, -1);
    rtt.textContent = "–";
    show("empty", "–", "Draw a digit in the box.");
  }

  document.getElementById("clear").addEventListener("click", clear);
  document.getElementById("predict").addEventListener("click", predict);
  pad.addEventListener("keydown", (event) => {
    if (event.key === "Escape" || event.key === "Delete") clear();
  });

  function text(id, value) {
    const known = value !== undefined && value !== null && value !== "";
    document.getElementById(id).textContent = known ? String(value) : "unknown";
  }

  function accuracy(value) {
    const x = Number(value);
    return value !== "" && Number.isFinite(x) && x >= 0 && x <= 1 ? `${(100 * x).toFixed(2)}%` : value;
  }

  async function refreshInfo() {
    let served;
    try {
      const response = await fetch("v1/info");
      served = await response.json();
    } catch (error) {
      text("info-runtime", `unavailable (${error.message})`);
      return;
    }
    const device = served.device ? ` on ${served.device}` : "";
    text("info-runtime", served.runtime ? served.runtime + device : "");
    text("info-sha", served.model_sha256);
    document.getElementById("info-sha").title = served.model_sha256 || "";
    text("info-dataset", served.dataset);
    text("info-accuracy", accuracy(served.test_accuracy));
    const counters = document.getElementById("counters");
    counters.replaceChildren();
    for (const [name, count] of Object.entries(served.counters || {})) {
      const dt = document.createElement("dt");
      const dd = document.createElement("dd");
      dt.textContent = name.replaceAll("_", " ");
      dd.textContent = String(count);
      dd.dataset.counter = name;
      counters.append(dt, dd);
    }
  }

  document.getElementById("api-url").textContent = new URL("v1/predict", location.href).href;
  setBars(null, -1);
  refreshInfo();
})();
