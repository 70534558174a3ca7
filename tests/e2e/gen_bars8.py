#!/usr/bin/env python3
"""gen_bars8.py: writes tests/e2e/bars8.csv, 8x8 one-channel images.

Three classes made up here: a horizontal bar (0), a vertical bar (1) and
a 3x3 square outline (2), each at a random place, on a background of
small noise.  A row is the 64 pixels in row-major order (one [1, 8, 8]
image) and the class id last; the file has a header.

    python3 tests/e2e/gen_bars8.py      (from the repository root)

The output is fixed by the seed below; tests/e2e/cnn_bars.nn trains on it.
"""
import random

ROWS = 60


def image(cls, rng):
    px = [[rng.uniform(0.0, 0.2) for _ in range(8)] for _ in range(8)]
    if cls == 0:
        r, c = rng.randrange(8), rng.randrange(4)
        for k in range(4):
            px[r][c + k] = rng.uniform(0.8, 1.0)
    elif cls == 1:
        r, c = rng.randrange(4), rng.randrange(8)
        for k in range(4):
            px[r + k][c] = rng.uniform(0.8, 1.0)
    else:
        r, c = rng.randrange(6), rng.randrange(6)
        for i in range(3):
            for j in range(3):
                if i != 1 or j != 1:
                    px[r + i][c + j] = rng.uniform(0.8, 1.0)
    return [v for row in px for v in row]


def main():
    rng = random.Random(8)
    with open("tests/e2e/bars8.csv", "w") as f:
        f.write(",".join("p%d" % i for i in range(64)) + ",class\n")
        for n in range(ROWS):
            cls = n % 3
            f.write(",".join("%.3f" % v for v in image(cls, rng)) + ",%d\n" % cls)


if __name__ == "__main__":
    main()
