"""The web app's icons (static/icons/), drawn from the favicon's shape: a red warning
triangle with a white mark, on a dark square that leaves the maskable safe zone (the
central 80 %) to the triangle, so one picture serves as "any" and "maskable".

Run from the repository root after changing the design; the PNGs are committed:

    .venv/bin/python scripts/icons.py
"""

import struct
import zlib
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "static" / "icons"
SIZES = {"alarmdesk-192.png": 192, "alarmdesk-512.png": 512, "apple-touch-icon.png": 180}
BACKGROUND = (31, 41, 55)  # the header's slate
RED = (217, 53, 38)  # the favicon's
WHITE = (255, 255, 255)
SAMPLES = 3  # per pixel and axis: edges smoothed


def _inside_triangle(x, y):
    """The favicon's triangle (16,3) (30,28) (2,28) of a 32-unit box, shrunk to the safe zone."""
    # In units of the 32-box, the triangle scaled by 0.7 about the box's centre.
    u, v = (x - 16) / 0.7 + 16, (y - 16.5) / 0.7 + 15.5
    if v > 28 or v < 3:
        return False
    half = (v - 3) * 14 / 25
    return abs(u - 16) <= half


def _inside_mark(x, y):
    """The exclamation mark: a bar and a dot, in the favicon's proportions."""
    u, v = (x - 16) / 0.7 + 16, (y - 16.5) / 0.7 + 15.5
    return 15 <= u <= 17 and (12 <= v <= 21 or 23 <= v <= 25)


def _pixel(px, py, size):
    counts = {"red": 0, "white": 0}
    for sy in range(SAMPLES):
        for sx in range(SAMPLES):
            x = (px + (sx + 0.5) / SAMPLES) * 32 / size
            y = (py + (sy + 0.5) / SAMPLES) * 32 / size
            if _inside_mark(x, y):
                counts["white"] += 1
            elif _inside_triangle(x, y):
                counts["red"] += 1
    n = SAMPLES * SAMPLES
    rest = n - counts["red"] - counts["white"]
    return bytes(
        round((BACKGROUND[i] * rest + RED[i] * counts["red"] + WHITE[i] * counts["white"]) / n)
        for i in range(3)
    )


def png(size):
    rows = b"".join(b"\0" + b"".join(_pixel(x, y, size) for x in range(size)) for y in range(size))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, size in SIZES.items():
        (OUT / name).write_bytes(png(size))
        print(f"{OUT / name}: {size}x{size}")


if __name__ == "__main__":
    main()
