"""Real-world digits: accuracy per style through the library's predict path, nothing downloaded.

Builds pictures the way users make them -- printed digits in every installed font (and Pillow's
own) at several sizes in both polarities; pen-drawn digits with varied stroke width, slant,
rotation and position; canvas exports (RGBA, transparent page); coloured ink on tinted paper;
grey paper with vignetting; light pencil; non-square crops; JPEG -- encodes each to PNG/JPEG
bytes, and classifies it with ``images.decode_image_bytes`` and a loaded runtime, as
``lenet-deploy predict`` and the server do. A picture reported as "no digit" counts as wrong.
Blank, uniform and noise pages are scored the other way: right when reported as "no digit".

Target: >= 95% mean over the digit styles and >= 90% on every style.

    python benchmarks/real_world.py [--model artifacts/lenet.pt] [--runtime torch-cpu]
        [--per-style 200] [--seed 0]

Without ``--model``, the default model is trained first (``TrainConfig()`` defaults).
"""

from __future__ import annotations

import argparse
import io
import math
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def _arc(cx, cy, rx, ry, t0, t1, n=24):
    t = np.radians(np.linspace(t0, t1, n))
    return list(zip(cx + rx * np.cos(t), cy - ry * np.sin(t), strict=True))


def _bezier(p0, c, p1, n=16):
    t = np.linspace(0, 1, n)[:, None]
    pts = (1 - t) ** 2 * np.array(p0) + 2 * (1 - t) * t * np.array(c) + t**2 * np.array(p1)
    return [tuple(p) for p in pts]


# Pen strokes per digit in a unit box (x right, y down), the shapes people write.
STROKES = {
    0: [_arc(0.5, 0.5, 0.3, 0.45, 90, 450, 40)],
    1: [[(0.36, 0.2), (0.52, 0.05), (0.52, 0.95)]],
    2: [_arc(0.5, 0.3, 0.26, 0.25, 160, -30) + [(0.2, 0.95), (0.84, 0.95)]],
    3: [_arc(0.5, 0.27, 0.24, 0.22, 150, -90), _arc(0.5, 0.71, 0.27, 0.24, 90, -150)],
    4: [[(0.66, 0.95), (0.66, 0.05), (0.14, 0.66), (0.86, 0.66)]],
    5: [[(0.76, 0.05), (0.33, 0.05), (0.29, 0.45)] + _arc(0.5, 0.67, 0.27, 0.27, 130, -140)],
    6: [_bezier((0.72, 0.05), (0.24, 0.15), (0.24, 0.7)), _arc(0.5, 0.7, 0.26, 0.25, 180, 540)],
    7: [[(0.18, 0.05), (0.82, 0.05), (0.42, 0.95)]],
    8: [_arc(0.5, 0.27, 0.21, 0.22, 0, 360), _arc(0.5, 0.72, 0.26, 0.23, 0, 360)],
    9: [_arc(0.5, 0.3, 0.25, 0.25, 0, 360), [(0.75, 0.3), (0.7, 0.95)]],
}


def draw_digit(
    rng,
    digit,
    size=(160, 160),
    ink=(0, 0, 0),
    paper=(255, 255, 255),
    width=None,
    mode="RGB",
    height_frac=None,
):
    """One pen-drawn digit: random slant, rotation, aspect, jitter, position and stroke width."""
    w, h = size
    img = Image.new(mode, size, paper)
    draw = ImageDraw.Draw(img)
    height = (height_frac or rng.uniform(0.45, 0.8)) * min(w, h) * (1.0 if h <= w else 1.0)
    aspect = rng.uniform(0.6, 1.0)
    shear, angle = rng.uniform(-0.35, 0.25), math.radians(rng.uniform(-12, 12))
    cx = rng.uniform(0.5 * height * aspect + 4, w - 0.5 * height * aspect - 4)
    cy = rng.uniform(0.5 * height + 4, h - 0.5 * height - 4)
    stroke = width if width is not None else max(1, int(height * rng.uniform(0.05, 0.16)))
    for points in STROKES[digit]:
        p = np.array(points) - 0.5 + rng.normal(0, 0.015, (len(points), 2))
        x, y = p[:, 0] * aspect + shear * (-p[:, 1]), p[:, 1]
        xr = x * math.cos(angle) - y * math.sin(angle)
        yr = x * math.sin(angle) + y * math.cos(angle)
        pts = [(cx + a * height, cy + b * height) for a, b in zip(xr, yr, strict=True)]
        draw.line(pts, fill=ink, width=stroke, joint="curve")
        r = stroke / 2
        for px, py in (pts[0], pts[-1]):
            draw.ellipse((px - r, py - r, px + r, py + r), fill=ink)
    return img


def _fonts() -> list[str]:
    try:
        out = subprocess.run(["fc-list", ":", "file"], capture_output=True, text=True).stdout
        files = [line.split(":")[0].strip() for line in out.splitlines()]
    except OSError:
        files = [str(p) for p in Path("/usr/share/fonts").rglob("*.[ot]tf")]
    return sorted(f for f in set(files) if f.lower().endswith((".ttf", ".otf")))


def printed(rng, n, dark_on_light=True):
    fonts = [None] + _fonts()
    out = []
    for i in range(n):
        digit, font_file = i % 10, fonts[(i // 10) % len(fonts)]
        size = (24, 48, 96)[(i // (10 * len(fonts))) % 3] if font_file else 10
        font = ImageFont.truetype(font_file, size) if font_file else ImageFont.load_default()
        ink, paper = (0, 255) if dark_on_light else (255, 0)
        box = font.getbbox(str(digit))
        canvas = (box[2] + size, box[3] + size) if font_file else (24, 24)
        img = Image.new("L", canvas, paper)
        ImageDraw.Draw(img).text(
            (size // 2 if font_file else 6, size // 4 if font_file else 4),
            str(digit),
            font=font,
            fill=ink,
        )
        out.append((img, digit))
    return out


def _png(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _jpeg(img, quality) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _noisy(img, rng, sigma):
    arr = np.asarray(img, np.float32) + rng.normal(0, sigma, np.asarray(img).shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def styles(rng, n):
    """{style: [(encoded bytes, label or None for "no digit" expected)]}."""
    fonts = len(_fonts()) + 1
    n_print = 30 * fonts  # every font at 3 sizes
    sets = {
        "printed, dark on light": [(_png(i), d) for i, d in printed(rng, n_print, True)],
        "printed, light on dark": [(_png(i), d) for i, d in printed(rng, n_print, False)],
        "pen, black on white": [],
        "canvas RGBA (transparent)": [],
        "coloured ink, tinted paper": [],
        "grey paper, vignetting": [],
        "light pencil": [],
        "non-square crop": [],
        "JPEG photo-like": [],
        "thin pen, large image": [],
    }
    inks = [(20, 40, 160), (170, 20, 20), (20, 110, 40), (60, 20, 120)]
    papers = [(250, 240, 200), (255, 225, 230), (225, 240, 255), (235, 250, 225)]
    for i in range(n):
        d = i % 10
        sets["pen, black on white"].append((_png(draw_digit(rng, d)), d))
        canvas = draw_digit(
            rng,
            d,
            (280, 280),
            ink=(0, 0, 0, 255),
            paper=(0, 0, 0, 0),
            mode="RGBA",
            width=int(rng.integers(10, 24)),
        )
        sets["canvas RGBA (transparent)"].append((_png(canvas), d))
        k = int(rng.integers(len(inks)))
        sets["coloured ink, tinted paper"].append(
            (_png(draw_digit(rng, d, ink=inks[k], paper=papers[(k + i) % 4])), d)
        )
        sets["grey paper, vignetting"].append(
            (
                _png(
                    _vignette(
                        rng, draw_digit(rng, d, (200, 200), ink=(40, 40, 40), paper=(160, 160, 160))
                    )
                ),
                d,
            )
        )
        level = int(rng.integers(150, 200))
        pencil = draw_digit(rng, d, ink=(level,) * 3, width=int(rng.integers(2, 5)))
        sets["light pencil"].append((_png(_noisy(pencil.convert("L"), rng, 4)), d))
        size = (int(rng.integers(200, 360)), int(rng.integers(90, 140)))
        size = size if i % 2 else size[::-1]
        sets["non-square crop"].append((_png(draw_digit(rng, d, size)), d))
        photo = _noisy(
            draw_digit(rng, d, ink=(50, 45, 40), paper=(215, 210, 200)).convert("L"), rng, 6
        )
        sets["JPEG photo-like"].append((_jpeg(photo, int(rng.integers(25, 70))), d))
        sets["thin pen, large image"].append(
            (_png(draw_digit(rng, d, (900, 700), width=int(rng.integers(3, 7)))), d)
        )
    blanks = []
    for i in range(max(20, n // 5)):
        kind = i % 4
        if kind == 0:
            img = Image.new("L", (120, 120), int(rng.integers(0, 256)))
        elif kind == 1:
            img = Image.fromarray(rng.integers(0, 256, (100, 100), dtype=np.uint8))
        elif kind == 2:
            img = _noisy(Image.new("L", (200, 150), 230), rng, 8)
        else:
            img = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
        blanks.append((_png(img), None))
    sets["blank / noise pages (expect no digit)"] = blanks
    return sets


def _vignette(rng, img):
    arr = np.asarray(img.convert("L"), np.float32)
    h, w = arr.shape
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot((yy - h / 2) / (h / 2), (xx - w / 2) / (w / 2))
    shade = 1 - rng.uniform(0.35, 0.6) * np.clip(r / 1.41, 0, 1) ** 2
    return _noisy(Image.fromarray(np.clip(arr * shade, 0, 255).astype(np.uint8)), rng, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="checkpoint (.pt) or ONNX file; default: train one")
    parser.add_argument("--runtime", default="torch-cpu")
    parser.add_argument("--per-style", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from lenet_deploy.images.recipe import decode_image_bytes
    from lenet_deploy.runtimes import load_runtime

    model = args.model
    if model is None:
        from lenet_deploy.model.train import TrainConfig, train

        out = Path(tempfile.mkdtemp(prefix="real_world_"))
        result = train(TrainConfig(), out)
        print(
            f"trained the default model: {result.test_accuracy:.2%} held out, "
            f"{result.train_seconds:.0f} s"
        )
        model = str(result.checkpoint_path)
    rng = np.random.default_rng(args.seed)
    sets = styles(rng, args.per_style)
    digit_scores = []
    print(f"model {model} on {args.runtime}")
    print(f"{'style':<40} {'images':>6} {'accuracy':>8} {'no digit':>8} {'ms/img':>6}")
    with load_runtime(args.runtime, model) as runtime:
        for style, items in sets.items():
            t0 = time.perf_counter()
            prepared = [decode_image_bytes(data, style) for data, _ in items]
            pixels = np.stack([p for p, _ in prepared])
            found = np.array([f for _, f in prepared])
            labels = runtime.predict_labels(pixels)
            ms = (time.perf_counter() - t0) * 1000 / len(items)
            want = [label for _, label in items]
            if want[0] is None:
                acc = float((~found).mean())
            else:
                acc = float(
                    np.mean([f and p == w for f, p, w in zip(found, labels, want, strict=True)])
                )
                digit_scores.append(acc)
            print(f"{style:<40} {len(items):>6} {acc:>8.1%} {int((~found).sum()):>8} {ms:>6.1f}")
    mean, worst = float(np.mean(digit_scores)), float(np.min(digit_scores))
    verdict = "PASS" if mean >= 0.95 and worst >= 0.90 else "FAIL"
    print(
        f"mean over digit styles {mean:.1%}, worst {worst:.1%}: target >= 95% / >= 90%: {verdict}"
    )


if __name__ == "__main__":
    main()
