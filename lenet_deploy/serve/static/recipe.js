"use strict";
// The image recipe's steps 3-5 (lenet_deploy/images/ink.py) ported for canvas drawings: dark
// ink on a transparent page. The Python recipe is the reference; tests/serve/test_ui_recipe.py
// sends the same drawings through both. The constants come from /v1/info ("recipe"); the
// resampling is Pillow's (separable, float64 weights, float32 images in between), so the two
// agree to rounding.
window.LenetRecipe = (() => {
  function pyRound(x) {  // Python's round(): halves go to the even neighbour
    const r = Math.round(x);
    return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
  }

  // Working buffers, kept between calls (a live drawing is framed many times a second; fresh
  // arrays would cost a garbage collection now and then). Zeroed unless `dirty` is asked for.
  const scratch = new Map();
  function buffer(name, Type, n, dirty = false) {
    const key = `${name}:${n}`;
    let b = scratch.get(key);
    if (!b) scratch.set(key, (b = new Type(n)));
    else if (!dirty) b.fill(0);
    return b;
  }

  function sinc(x) {
    if (x === 0) return 1.0;
    const px = x * Math.PI;
    return Math.sin(px) / px;
  }

  const FILTERS = {
    box: { support: 0.5, weight: (x) => (x > -0.5 && x <= 0.5 ? 1.0 : 0.0) },
    lanczos: { support: 3.0, weight: (x) => (x >= -3.0 && x < 3.0 ? sinc(x) * sinc(x / 3) : 0.0) },
  };

  // Pillow's precompute_coeffs: for each output pixel the first input pixel and the weights.
  function coefficients(inSize, outSize, filter) {
    const scale = inSize / outSize;
    const filterscale = Math.max(scale, 1.0);
    const support = filter.support * filterscale;
    const out = [];
    for (let xx = 0; xx < outSize; xx++) {
      const center = (xx + 0.5) * scale;
      const xmin = Math.max(0, Math.trunc(center - support + 0.5));
      const xmax = Math.min(inSize, Math.trunc(center + support + 0.5));
      const k = new Float64Array(Math.max(0, xmax - xmin));
      let total = 0.0;
      for (let x = 0; x < k.length; x++) {
        k[x] = filter.weight((x + xmin - center + 0.5) / filterscale);
        total += k[x];
      }
      if (total !== 0.0) for (let x = 0; x < k.length; x++) k[x] /= total;
      out.push({ xmin, k });
    }
    return out;
  }

  // Image.resize of a float32 ("F") image: horizontal pass, then vertical, as Pillow does.
  function resize(src, w, h, outW, outH, filter) {
    let img = src;
    let width = w;
    if (outW !== w) {
      const cs = coefficients(w, outW, filter);
      const tmp = buffer("horizontal", Float32Array, outW * h, true);
      for (let y = 0; y < h; y++) {
        const row = y * w;
        for (let xx = 0; xx < outW; xx++) {
          const { xmin, k } = cs[xx];
          let s = 0.0;
          for (let x = 0; x < k.length; x++) s += img[row + xmin + x] * k[x];
          tmp[y * outW + xx] = s;
        }
      }
      img = tmp;
      width = outW;
    }
    if (outH !== h) {
      const cs = coefficients(h, outH, filter);
      const tmp = buffer("vertical", Float32Array, width * outH, true);
      for (let yy = 0; yy < outH; yy++) {
        const { xmin, k } = cs[yy];
        for (let x = 0; x < width; x++) {
          let s = 0.0;
          for (let y = 0; y < k.length; y++) s += img[(xmin + y) * width + x] * k[y];
          tmp[yy * width + x] = s;
        }
      }
      img = tmp;
    }
    return img;
  }

  // np.quantile(blur3x3(ink), q) with edge padding. Most of a drawing is empty paper: empty
  // rows are skipped and only the non-zero values are sorted.
  function inkLevel(ink, w, h, q) {
    const rows = buffer("rows", Float32Array, w * h);  // 3-wide horizontal sums
    const used = buffer("used", Uint8Array, h);
    for (let y = 0; y < h; y++) {
      const o = y * w;
      let any = false;
      for (let x = 0; x < w; x++) if (ink[o + x] !== 0) { any = true; break; }
      if (!any) continue;
      used[y] = 1;
      for (let x = 0; x < w; x++) {
        const l = ink[o + (x > 0 ? x - 1 : 0)];
        const r = ink[o + (x < w - 1 ? x + 1 : w - 1)];
        rows[o + x] = l + ink[o + x] + r;
      }
    }
    const values = [];
    for (let y = 0; y < h; y++) {
      const up = y > 0 ? y - 1 : 0;
      const down = y < h - 1 ? y + 1 : h - 1;
      if (!used[up] && !used[y] && !used[down]) continue;
      const a = up * w, b = y * w, c = down * w;
      for (let x = 0; x < w; x++) {
        const v = Math.fround((rows[a + x] + rows[b + x] + rows[c + x]) / 9.0);
        if (v > 0) values.push(v);
      }
    }
    const sorted = Float32Array.from(values).sort();
    const n = w * h;
    const zeros = n - sorted.length;
    const at = (i) => (i < zeros ? 0.0 : sorted[i - zeros]);
    const pos = q * (n - 1);
    const lo = Math.floor(pos);
    const hi = Math.min(lo + 1, n - 1);
    return at(lo) + (at(hi) - at(lo)) * (pos - lo);
  }

  // ndimage.label (8-connected) of ink > stroke, keep components with at least speck_fraction
  // of the largest's mass, grow them by `fringe` (4-connected) steps and keep the ink there.
  function dropSpecks(ink, w, h, c) {
    const labels = buffer("labels", Int32Array, w * h);
    const mass = [0];
    const stack = buffer("stack", Int32Array, w * h, true);
    for (let start = 0; start < ink.length; start++) {
      if (labels[start] || !(ink[start] > c.stroke)) continue;
      const label = mass.length;
      let total = 0.0;
      let top = 0;
      stack[top++] = start;
      labels[start] = label;
      while (top) {
        const i = stack[--top];
        total += ink[i];
        const x = i % w;
        const y = (i - x) / w;
        for (let dy = -1; dy <= 1; dy++) {
          const yy = y + dy;
          if (yy < 0 || yy >= h) continue;
          for (let dx = -1; dx <= 1; dx++) {
            const xx = x + dx;
            const j = yy * w + xx;
            if (xx < 0 || xx >= w || labels[j] || !(ink[j] > c.stroke)) continue;
            labels[j] = label;
            stack[top++] = j;
          }
        }
      }
      mass.push(total);
    }
    if (mass.length === 1) return null;
    const biggest = Math.max(...mass.slice(1));
    let grown = buffer("grown", Uint8Array, w * h);
    let next = buffer("next", Uint8Array, w * h, true);
    let top = h, bottom = -1, left = w, right = -1;
    for (let i = 0; i < ink.length; i++) {
      if (labels[i] && mass[labels[i]] >= c.speck_fraction * biggest) {
        grown[i] = 1;
        const x = i % w, y = (i - x) / w;
        if (y < top) top = y;
        if (y > bottom) bottom = y;
        if (x < left) left = x;
        if (x > right) right = x;
      }
    }
    for (let step = 0; step < c.fringe; step++) {  // 4-connected, as binary_dilation's default
      top = Math.max(0, top - 1); bottom = Math.min(h - 1, bottom + 1);
      left = Math.max(0, left - 1); right = Math.min(w - 1, right + 1);
      next.set(grown);
      for (let y = top; y <= bottom; y++) {
        for (let x = left; x <= right; x++) {
          const i = y * w + x;
          if (grown[i]) continue;
          if ((x > 0 && grown[i - 1]) || (x < w - 1 && grown[i + 1]) ||
              (y > 0 && grown[i - w]) || (y < h - 1 && grown[i + w])) next[i] = 1;
        }
      }
      [grown, next] = [next, grown];
    }
    const out = buffer("kept", Float32Array, w * h);
    for (let i = 0; i < ink.length; i++) if (grown[i]) out[i] = ink[i];
    return out;
  }

  function bounds(img, w, h) {
    let top = h, bottom = -1, left = w, right = -1;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        if (img[y * w + x] !== 0) {
          if (y < top) top = y;
          if (y > bottom) bottom = y;
          if (x < left) left = x;
          if (x > right) right = x;
        }
      }
    }
    return bottom < 0 ? null : { top, bottom, left, right };
  }

  // Crop, fit box x box keeping the aspect (Lanczos), centre of mass at the centre of
  // frame x frame, zero-pad to size x size.
  function mnistFrame(ink, w, h, c) {
    const b = bounds(ink, w, h);
    const cw = b.right - b.left + 1;
    const ch = b.bottom - b.top + 1;
    const crop = new Float32Array(cw * ch);
    for (let y = 0; y < ch; y++) {
      for (let x = 0; x < cw; x++) crop[y * cw + x] = ink[(b.top + y) * w + b.left + x];
    }
    const scale = c.box / Math.max(cw, ch);
    const fw = Math.max(1, pyRound(cw * scale));
    const fh = Math.max(1, pyRound(ch * scale));
    const fitted = resize(crop, cw, ch, fw, fh, FILTERS.lanczos);
    let peak = 0.0;
    for (let i = 0; i < fitted.length; i++) {
      if (fitted[i] < 0) fitted[i] = 0;
      if (fitted[i] > peak) peak = fitted[i];
    }
    const norm = Math.max(peak, 1e-6);
    let total = 0.0, sy = 0.0, sx = 0.0;
    for (let y = 0; y < fh; y++) {
      for (let x = 0; x < fw; x++) {
        const v = Math.min(1, Math.max(0, Math.fround(fitted[y * fw + x] / norm)));
        fitted[y * fw + x] = v;
        total += v;
        sy += y * v;
        sx += x * v;
      }
    }
    const top = Math.min(Math.max(pyRound(c.frame / 2 - sy / total), 0), c.frame - fh);
    const left = Math.min(Math.max(pyRound(c.frame / 2 - sx / total), 0), c.frame - fw);
    const pad = (c.size - c.frame) / 2;
    const out = new Float32Array(c.size * c.size);
    for (let y = 0; y < fh; y++) {
      for (let x = 0; x < fw; x++) {
        out[(pad + top + y) * c.size + pad + left + x] = fitted[y * fw + x];
      }
    }
    return out;
  }

  // RGBA canvas pixels -> { pixels: Float32Array(size * size) in [0, 1], hasDigit }.
  function prepare(imageData, c) {
    const { width, height, data } = imageData;
    let ink = buffer("ink", Float32Array, width * height);
    for (let i = 0, j = 3; i < ink.length; i++, j += 4) {
      const alpha = data[j];
      if (alpha === 0) continue;
      const luma = (0.299 * data[j - 3] + 0.587 * data[j - 2] + 0.114 * data[j - 1]) / 255;
      ink[i] = (alpha / 255) * (1 - luma);  // ink over white paper: the recipe's residual there
    }
    let w = width, h = height;
    const scale = c.work_side / Math.max(w, h);
    if (scale < 1) {
      const sw = Math.max(2, pyRound(w * scale));
      const sh = Math.max(2, pyRound(h * scale));
      ink = resize(ink, w, h, sw, sh, FILTERS.box);
      w = sw;
      h = sh;
    }
    const none = { pixels: new Float32Array(c.size * c.size), hasDigit: false };
    const sigma = c.sigma_floor;  // a canvas has perfectly clean paper
    const level = inkLevel(ink, w, h, c.level_quantile);
    if (level < c.min_contrast || level < c.min_snr * sigma) return none;
    const floor = Math.min(3 * sigma, 0.5 * level);
    for (let i = 0; i < ink.length; i++) {
      ink[i] = Math.min(1, Math.max(0, (ink[i] - floor) / (level - floor)));
    }
    const kept = dropSpecks(ink, w, h, c);
    if (kept === null) return none;
    const b = bounds(kept, w, h);
    const extent = Math.max(b.bottom - b.top, b.right - b.left) + 1;
    if (extent < Math.max(c.min_extent, c.min_extent_fraction * Math.min(w, h))) return none;
    return { pixels: mnistFrame(kept, w, h, c), hasDigit: true };
  }

  return { prepare };
})();
