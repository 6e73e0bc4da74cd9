"""Clearly written digits are never "no digit": real MNIST digits re-drawn as people draw them.

Each test digit of the embedded MNIST-5k is thinned to its pen path (Zhang-Suen) and drawn
again: pens of every width (1 px to a fat marker), coloured markers, pencil (grey, grainy, on
off-white paper), a box or ruled/squared lines around the digit, an underline, a canvas export
(dark ink on a transparent page), a shaded JPEG photo; sizes from 12% to 90% of the picture's
short side, anywhere in it. Every picture goes through the library's recipe as PNG/JPEG bytes
(``images.decode_image_bytes``: what ``predict``, the server and the page's fallback use).

Target: 0 "no digit" answers. With ``--model`` (an artifacts folder or lenet.onnx) it also
reports accuracy and how many answers are "unsure" (``images.answer.UNSURE_BELOW``).

    python benchmarks/clear_digits.py [--per-style 60] [--seed 0] [--model artifacts]
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from scipy import ndimage

STYLES = ("fine-pen", "pen", "thick-pen", "marker", "fat-marker", "coloured-marker", "pencil",
          "boxed", "ruled-paper", "squared-paper", "underlined", "canvas-rgba", "photo-jpeg",
          "small-corner")  # fmt: skip


def thin(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of a boolean mask to one-pixel paths (vectorised)."""
    img = np.pad(mask.astype(np.uint8), 1)
    changed = True
    while changed:
        changed = False
        for step in (0, 1):
            p = np.pad(img, 1)
            n = [p[:-2, 1:-1], p[:-2, 2:], p[1:-1, 2:], p[2:, 2:],
                 p[2:, 1:-1], p[2:, :-2], p[1:-1, :-2], p[:-2, :-2]]  # fmt: skip
            b = sum(x.astype(np.int32) for x in n)
            a = sum(((n[i] == 0) & (n[(i + 1) % 8] == 1)).astype(np.int32) for i in range(8))
            p2, p4, p6, p8 = n[0], n[2], n[4], n[6]
            if step == 0:
                cond = (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0)
            else:
                cond = (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
            kill = (img == 1) & (b >= 2) & (b <= 6) & (a == 1) & cond
            if kill.any():
                img[kill] = 0
                changed = True
    return img[1:-1, 1:-1].astype(bool)


def pen_path(digit: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The digit's path as points (row, col) in a 112x112 frame and its 8-neighbour links."""
    big = np.asarray(Image.fromarray(digit).resize((112, 112), Image.Resampling.BICUBIC))
    skeleton = thin(big > 110)
    points = np.argwhere(skeleton)
    index = {tuple(p): i for i, p in enumerate(points)}
    links = []
    for i, (r, c) in enumerate(points):
        for dr, dc in ((0, 1), (1, -1), (1, 0), (1, 1)):
            j = index.get((r + dr, c + dc))
            if j is not None:
                links.append((i, j))
    return points.astype(np.float64), links


def stroke_mask(points, links, size, height, top_left, width, rng) -> np.ndarray:
    """The path drawn with a round pen ``width`` px wide, the digit ``height`` px tall (its
    MNIST 20-of-28 box), placed at ``top_left``; antialiased by 3x supersampling."""
    ss = 3
    w, h = size
    scale = height / 80.0 * ss  # MNIST's 20 px box is 80 px of the 112 px frame
    slant = rng.uniform(-0.15, 0.15)
    rows, cols = points[:, 0] - 56, points[:, 1] - 56
    xs = (cols + slant * rows + 56) * scale + top_left[0] * ss
    ys = points[:, 0] * scale + top_left[1] * ss
    img = Image.new("L", (w * ss, h * ss), 0)
    draw = ImageDraw.Draw(img)
    pen = max(1.0, width * ss)
    for i, j in links:
        draw.line([(xs[i], ys[i]), (xs[j], ys[j])], fill=255, width=max(1, round(pen)))
    r = pen / 2
    for x, y in zip(xs, ys, strict=True):
        draw.ellipse([x - r, y - r, x + r, y + r], fill=255)
    return np.asarray(img.resize((w, h), Image.Resampling.BOX), np.float32) / 255.0


def _place(rng, size, height):
    """A top-left corner for the path's frame that keeps the whole digit (its 20-of-28 box)
    inside the picture."""
    w, h = size
    box = height * 28 / 20
    return (rng.uniform(-0.1 * box, max(-0.1 * box, w - 0.9 * box)),
            rng.uniform(-0.1 * box, max(-0.1 * box, h - 0.9 * box)))  # fmt: skip


def render(style: str, digit: np.ndarray, rng) -> tuple[bytes, str]:
    """One picture of ``digit`` (MNIST 28x28 uint8) in ``style``: (encoded bytes, format)."""
    points, links = pen_path(digit)
    size = tuple(int(v) for v in rng.choice([(280, 280), (480, 360), (360, 480), (1000, 800)]))
    short = min(size)
    fraction = rng.uniform(0.12, 0.2) if style == "small-corner" else rng.uniform(0.25, 0.9)
    height = fraction * short
    width = {
        "fine-pen": rng.uniform(1.0, 2.0),
        "pen": rng.uniform(0.03, 0.06) * height,
        "thick-pen": rng.uniform(0.07, 0.1) * height,
        "marker": rng.uniform(0.1, 0.14) * height,
        "fat-marker": rng.uniform(0.14, 0.18) * height,
        "coloured-marker": rng.uniform(0.08, 0.14) * height,
    }.get(style, rng.uniform(0.04, 0.09) * height)
    width = max(width, 1.0)
    if style == "small-corner":
        corner = rng.integers(4)
        box = height * 28 / 20
        x = 0.02 * size[0] - 0.1 * box if corner % 2 == 0 else size[0] - 0.92 * box
        y = 0.02 * size[1] - 0.1 * box if corner < 2 else size[1] - 0.92 * box
        top_left = (x, y)
    else:
        top_left = _place(rng, size, height)
    ink = stroke_mask(points, links, size, height, top_left, width, rng)
    paper = np.ones((size[1], size[0], 3), np.float32)
    colour = np.full(3, rng.uniform(0.0, 0.2), np.float32)  # black or dark grey ink
    strength = ink
    if style == "coloured-marker":
        colour = np.float32([[0.1, 0.2, 0.75], [0.8, 0.1, 0.1], [0.1, 0.55, 0.2]][rng.integers(3)])
    if style == "pencil":
        paper *= np.float32([0.97, 0.96, 0.92])
        grain = ndimage.gaussian_filter(rng.standard_normal(ink.shape), 0.8)
        grain = np.clip(0.75 + 0.9 * grain, 0.2, 1.0).astype(np.float32)
        strength = ink * grain * rng.uniform(0.45, 0.7)
        colour = np.full(3, 0.25, np.float32)
    lines = Image.new("L", size, 0)
    draw = ImageDraw.Draw(lines)
    box = height * 28 / 20
    x0, y0 = top_left[0] + 0.1 * box, top_left[1] + 0.1 * box
    x1, y1 = x0 + 0.8 * box, y0 + 0.8 * box
    if style == "boxed":
        m = rng.uniform(0.05, 0.25) * height
        draw.rectangle([x0 - m, y0 - m, x1 + m, y1 + m], outline=255,
                       width=max(1, round(rng.uniform(0.3, 1.0) * width)))  # fmt: skip
    if style == "underlined":
        y = y1 + rng.uniform(0.05, 0.15) * height
        ends = [(x0 - 0.1 * height, y), (x1 + 0.1 * height, y)]
        draw.line(ends, fill=255, width=max(1, round(width)))
    if style in ("ruled-paper", "squared-paper"):
        step = max(8, round(height * rng.uniform(0.35, 0.6)))
        for y in range(int(rng.integers(step)), size[1], step):
            draw.line([(0, y), (size[0], y)], fill=255, width=1)
        if style == "squared-paper":
            for x in range(int(rng.integers(step)), size[0], step):
                draw.line([(x, 0), (x, size[1])], fill=255, width=1)
    line_ink = np.asarray(lines, np.float32) / 255.0
    if style in ("ruled-paper", "squared-paper"):
        line_colour, line_strength = np.float32([0.55, 0.7, 0.9]), 0.8
    else:
        line_colour, line_strength = np.full(3, 0.15, np.float32), 1.0
    picture = paper * (1 - line_strength * line_ink[..., None])
    picture += line_strength * line_ink[..., None] * line_colour
    picture = picture * (1 - strength[..., None]) + strength[..., None] * colour
    if style == "photo-jpeg":
        yy, xx = np.mgrid[0 : size[1], 0 : size[0]] / max(size)
        light = 0.78 + 0.12 * xx - 0.08 * yy - 0.1 * ((xx - 0.5) ** 2 + (yy - 0.5) ** 2)
        picture = picture * light[..., None].astype(np.float32)
        picture += rng.normal(0, 0.015, picture.shape).astype(np.float32)
    rgb = np.clip(np.round(picture * 255), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    if style == "canvas-rgba":
        rgba = np.zeros((size[1], size[0], 4), np.uint8)
        rgba[..., :3] = np.round(colour * 255).astype(np.uint8)
        rgba[..., 3] = np.round(np.clip(strength, 0, 1) * 255).astype(np.uint8)
        Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
        return buf.getvalue(), "png"
    img = Image.fromarray(rgb, "RGB")
    if style == "photo-jpeg":
        img = img.filter(ImageFilter.GaussianBlur(0.6))
        img.save(buf, format="JPEG", quality=int(rng.integers(70, 95)))
        return buf.getvalue(), "jpeg"
    img.save(buf, format="PNG")
    return buf.getvalue(), "png"


def drawings(per_style: int, seed: int = 0):
    """(style, label, bytes) for ``per_style`` MNIST test digits in every style."""
    from lenet_deploy.data.datasets import load_dataset

    held_out = load_dataset("mnist5k")  # its test split: digits the model never trained on
    x = np.round(held_out.x_test[:, 0, 2:30, 2:30] * 255).astype(np.uint8)
    y = held_out.y_test
    rng = np.random.default_rng(seed)
    for style in STYLES:
        picks = rng.choice(len(x), per_style, replace=False)
        for i in picks:
            data, _ = render(style, x[i], rng)
            yield style, int(y[i]), data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-style", type=int, default=60, help="digits per style (default: 60)")
    ap.add_argument("--seed", type=int, default=0, help="default: 0")
    ap.add_argument("--model", help="artifacts folder or lenet.onnx: also report accuracy")
    ap.add_argument("--save", help="write the pictures into this folder too")
    args = ap.parse_args()

    from lenet_deploy.images.answer import UNSURE_BELOW, answer_for
    from lenet_deploy.images.recipe import decode_image_bytes

    runtime = None
    if args.model:
        from lenet_deploy.runtimes import load_runtime

        runtime = load_runtime("ort-cpu", args.model, threads=1)
    rows: dict[str, list[int]] = {s: [0, 0, 0, 0] for s in STYLES}  # n, no digit, right, unsure
    start = time.perf_counter()
    for k, (style, label, data) in enumerate(drawings(args.per_style, args.seed)):
        if args.save:
            from pathlib import Path

            Path(args.save).mkdir(parents=True, exist_ok=True)
            Path(args.save, f"{style}-{k:04d}-{label}.png").write_bytes(data)
        pixels, has_digit = decode_image_bytes(data, style)
        row = rows[style]
        row[0] += 1
        row[1] += not has_digit
        if runtime is not None and has_digit:
            answer = answer_for(runtime.predict_proba(pixels[None])[0], True)
            row[2] += answer.label == label
            row[3] += answer.unsure
    seconds = time.perf_counter() - start
    head = f"{'style':<16} {'pictures':>8} {'no digit':>8}"
    if runtime is not None:
        head += f" {'accuracy':>8} {'unsure':>7}"
    print(head)
    for style, (n, none, right, unsure) in rows.items():
        line = f"{style:<16} {n:>8} {none:>8}"
        if runtime is not None:
            line += f" {right / n:>8.1%} {unsure:>7}"
        print(line)
    n, none = sum(r[0] for r in rows.values()), sum(r[1] for r in rows.values())
    total = f"{'all':<16} {n:>8} {none:>8}"
    if runtime is not None:
        right, unsure = sum(r[2] for r in rows.values()), sum(r[3] for r in rows.values())
        total += f" {right / n:>8.1%} {unsure:>7}"
        runtime.close()
    print(total)
    print(f"{n} pictures in {seconds:.1f} s; unsure below {UNSURE_BELOW:g}; seed {args.seed}")
    print("PASS: 0 'no digit' answers" if none == 0 else f"FAIL: {none} 'no digit' answers")
    raise SystemExit(0 if none == 0 else 1)


if __name__ == "__main__":
    main()
