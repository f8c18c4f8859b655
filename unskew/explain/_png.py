"""Greyscale PNGs of saliency maps for the report (no imaging library needed)."""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np


def png_bytes(img: np.ndarray) -> bytes:
    """8-bit greyscale PNG of a 2-D uint8 array."""
    img = np.ascontiguousarray(img, np.uint8)
    h, w = img.shape
    raw = b"".join(b"\x00" + img[r].tobytes() for r in range(h))  # filter type 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def _scaled(m: np.ndarray) -> np.ndarray:
    m = np.nan_to_num(np.asarray(m, float))
    top = m.max()
    return (255 * m / top).astype(np.uint8) if top > 0 else np.zeros(m.shape, np.uint8)


def map_grid(rows: list[list[np.ndarray]], pad: int = 1, max_per_row: int = 8) -> str:
    """Base64 PNG of a grid of maps (each scaled to its own maximum), rows padded to the widest."""
    rows = [r[:max_per_row] for r in rows if len(r)]
    if not rows:
        raise ValueError("no maps")
    h, w = rows[0][0].shape
    ncol = max(len(r) for r in rows)
    grid = np.full((len(rows) * (h + pad) + pad, ncol * (w + pad) + pad), 64, np.uint8)
    for i, r in enumerate(rows):
        for j, m in enumerate(r):
            y, x = pad + i * (h + pad), pad + j * (w + pad)
            grid[y:y + h, x:x + w] = _scaled(m)
    return base64.b64encode(png_bytes(grid)).decode("ascii")
