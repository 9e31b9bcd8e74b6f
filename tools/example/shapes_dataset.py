"""Deterministic synthetic "shapes" detection data set for the bundled Ssd example.

Every image is a pure function of (seed, index): the same pair always gives the same pixels, boxes and labels, so the
training set, the held-out evaluation set and the sample images under examples/shapes/ can be regenerated anywhere.

An image is 300x300 RGB (SSD300's input size) with a cluttered background -- a colour gradient, pixel noise, thin
lines and small blobs that are deliberately smaller than any object -- and 1 to 4 filled shapes of 30-150 px that
may overlap a little. Boxes are tight xyxy pixel boxes of the drawn polygon; labels are 1-based (0 is background,
as torchvision's SSD expects).

Usage:  /usr/bin/python3 tools/example/shapes_dataset.py --seed 2 --count 8 --out /tmp/preview [--boxes]
"""
import argparse
import os

import cv2
import numpy as np

CLASSES = ["circle", "square", "triangle", "star"]
IMAGE_SIZE = 300
MIN_OBJECT, MAX_OBJECT = 30, 150

# Seeds used by the scripts; the evaluation set never shares a seed with the training stream.
TRAIN_SEED = 1
EVAL_SEED = 1000
SAMPLE_SEED = 2000


def _background(rng, size):
    """Linear gradient between two random colours at a random angle, plus noise and small distractors."""
    c0 = rng.uniform(0, 255, 3)
    c1 = rng.uniform(0, 255, 3)
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1)
    t = (np.cos(angle) * xs + np.sin(angle) * ys)
    t = (t - t.min()) / max(t.max() - t.min(), 1e-6)
    img = c0[None, None, :] * (1 - t[..., None]) + c1[None, None, :] * t[..., None]
    img += rng.normal(0, rng.uniform(2, 12), img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    img = np.ascontiguousarray(img)

    # Thin lines and small blobs: clutter the detector must learn to ignore (all well under MIN_OBJECT).
    for _ in range(rng.integers(0, 9)):
        p0 = tuple(int(v) for v in rng.integers(0, size, 2))
        p1 = tuple(int(v) for v in rng.integers(0, size, 2))
        cv2.line(img, p0, p1, _colour(rng), int(rng.integers(1, 3)), cv2.LINE_AA)
    for _ in range(rng.integers(0, 13)):
        centre = tuple(int(v) for v in rng.integers(0, size, 2))
        axes = (int(rng.integers(2, 9)), int(rng.integers(2, 9)))
        cv2.ellipse(img, centre, axes, float(rng.uniform(0, 180)), 0, 360, _colour(rng), -1, cv2.LINE_AA)
    return img


def _colour(rng):
    return tuple(int(v) for v in rng.integers(0, 256, 3))


def _contrasting_colour(rng, patch):
    """A colour far enough from the mean of the background under the object that the shape is visible."""
    mean = patch.reshape(-1, 3).mean(0)
    for _ in range(50):
        c = rng.integers(0, 256, 3)
        if np.linalg.norm(c - mean) > 110:
            return tuple(int(v) for v in c)
    return tuple(int(v) for v in (255 - mean))


def _rotate(points, angle):
    c, s = np.cos(angle), np.sin(angle)
    return points @ np.array([[c, s], [-s, c]])


def _polygon(rng, cls, size):
    """Vertices (centred on 0, fitting a size x size box) of one shape; None for a circle."""
    r = size / 2.0
    if cls == "circle":
        return None
    if cls == "square":
        pts = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64) * r
        pts = _rotate(pts, rng.uniform(-np.pi / 6, np.pi / 6))
    elif cls == "triangle":
        angles = np.array([90, 210, 330]) * np.pi / 180 + rng.uniform(-0.35, 0.35, 3)
        pts = np.stack([np.cos(angles), -np.sin(angles)], 1) * r
        pts = _rotate(pts, rng.uniform(0, 2 * np.pi))
    elif cls == "star":
        inner = rng.uniform(0.38, 0.5)
        k = np.arange(10)
        radii = np.where(k % 2 == 0, 1.0, inner) * r
        angles = np.pi / 2 + k * np.pi / 5
        pts = np.stack([np.cos(angles) * radii, -np.sin(angles) * radii], 1)
        pts = _rotate(pts, rng.uniform(0, 2 * np.pi))
    else:
        raise ValueError(f"unknown shape class '{cls}'")
    # Rescale so that the tight box's longer side is exactly `size`.
    extent = (pts.max(0) - pts.min(0)).max()
    return pts * (size / extent)


def _covered_fraction(a, b):
    """Intersection over the smaller box's area: how much of the smaller of two shapes the other may hide."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return ix * iy / smaller


def make_sample(seed, index, size=IMAGE_SIZE):
    """Returns (image HxWx3 uint8 RGB, boxes float32 [N,4] xyxy pixels, labels int64 [N], 1-based)."""
    rng = np.random.default_rng([seed, index])
    img = _background(rng, size)
    boxes, labels = [], []
    wanted = int(rng.integers(1, 5))
    attempts = 0
    while len(boxes) < wanted and attempts < 40:
        attempts += 1
        cls_id = int(rng.integers(0, len(CLASSES)))
        cls = CLASSES[cls_id]
        obj = float(rng.uniform(MIN_OBJECT, MAX_OBJECT))
        pts = _polygon(rng, cls, obj)
        half = obj / 2.0
        cx, cy = rng.uniform(half + 1, size - half - 1, 2)
        if pts is None:
            box = [cx - half, cy - half, cx + half, cy + half]
        else:
            pts = pts + [cx, cy]
            box = [*pts.min(0), *pts.max(0)]
        # Some overlap is allowed, but never enough to hide most of a shape (IoU alone would let a large shape
        # drawn later swallow a small earlier one whole).
        if any(_covered_fraction(box, b) > 0.3 for b in boxes):
            continue
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        colour = _contrasting_colour(rng, img[max(y0, 0):y1 + 1, max(x0, 0):x1 + 1])
        if pts is None:
            # cv2 draws with 4 fractional bits so that sub-pixel centres and radii are honoured.
            cv2.circle(img, (int(round(cx * 16)), int(round(cy * 16))), int(round(half * 16)), colour, -1,
                       cv2.LINE_AA, 4)
        else:
            cv2.fillPoly(img, [np.round(pts * 16).astype(np.int32)], colour, cv2.LINE_AA, 4)
        boxes.append(box)
        labels.append(cls_id + 1)
    boxes = np.clip(np.array(boxes, np.float32).reshape(-1, 4), 0, size)
    return img, boxes, np.array(labels, np.int64)


def draw_boxes(img, boxes, labels, scores=None):
    out = img.copy()
    for i, (b, l) in enumerate(zip(boxes, labels)):
        p0, p1 = (int(b[0]), int(b[1])), (int(b[2]), int(b[3]))
        cv2.rectangle(out, p0, p1, (255, 0, 0), 1)
        text = CLASSES[int(l) - 1] + ("" if scores is None else f" {scores[i]:.2f}")
        cv2.putText(out, text, (p0[0], max(p0[1] - 3, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 0, 0), 1)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=SAMPLE_SEED)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--count", type=int, default=4)
    ap.add_argument("--out", required=True)
    ap.add_argument("--boxes", action="store_true", help="draw the ground-truth boxes (preview only)")
    ap.add_argument("--ext", default="jpg", choices=["jpg", "png"])
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for i in range(args.start, args.start + args.count):
        img, boxes, labels = make_sample(args.seed, i)
        if args.boxes:
            img = draw_boxes(img, boxes, labels)
        path = os.path.join(args.out, f"shapes_{i:03d}.{args.ext}")
        cv2.imwrite(path, cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        print(path, [(CLASSES[l - 1], [round(float(v), 1) for v in b]) for b, l in zip(boxes, labels)])


if __name__ == "__main__":
    main()
