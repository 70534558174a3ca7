#!/usr/bin/env python3
"""gen_shapes12.py: writes tests/embedded/shapes12.csv, 12x12 one-channel images.

Four classes made up here, each drawn at a random place on a background of
small noise: a horizontal bar of 5 pixels (0), a vertical bar of 5 (1), a
4x4 square outline (2) and a diagonal of 5 going down to the right (3).
A row is the 144 pixels in row-major order (one [1, 12, 12] image) and the
class id last; the file has a header.

    python3 tests/embedded/gen_shapes12.py      (from the repository root)

The output is fixed by the seed below; tests/embedded/cnn12.nn trains on
it (tests/run_embedded.sh, on x86 and on an emulated Cortex-M4).
"""
import random

SIDE = 12
ROWS = 96


def image(cls, rng):
    px = [[rng.uniform(0.0, 0.2) for _ in range(SIDE)] for _ in range(SIDE)]
    on = lambda r, c: px[r].__setitem__(c, rng.uniform(0.8, 1.0))
    if cls == 0:
        r, c = rng.randrange(SIDE), rng.randrange(SIDE - 4)
        for k in range(5):
            on(r, c + k)
    elif cls == 1:
        r, c = rng.randrange(SIDE - 4), rng.randrange(SIDE)
        for k in range(5):
            on(r + k, c)
    elif cls == 2:
        r, c = rng.randrange(SIDE - 3), rng.randrange(SIDE - 3)
        for i in range(4):
            for j in range(4):
                if i in (0, 3) or j in (0, 3):
                    on(r + i, c + j)
    else:
        r, c = rng.randrange(SIDE - 4), rng.randrange(SIDE - 4)
        for k in range(5):
            on(r + k, c + k)
    return [v for row in px for v in row]


def main():
    rng = random.Random(12)
    with open("tests/embedded/shapes12.csv", "w") as f:
        f.write(",".join("p%d" % i for i in range(SIDE * SIDE)) + ",class\n")
        for n in range(ROWS):
            cls = n % 4
            f.write(",".join("%.3f" % v for v in image(cls, rng)) + ",%d\n" % cls)


if __name__ == "__main__":
    main()
