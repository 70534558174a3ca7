#!/usr/bin/env python3
"""gen_bag_ids.py: writes tests/e2e/bag_ids.csv, rows of 6 token ids and a topic.

Three topics made up here over a vocabulary of 20 ids: topic c draws each
of its 6 tokens from its own ids 6c..6c+5 with probability 0.6, else from
any of the 20 (ids 18 and 19 belong to no topic).  A row is the 6 ids and
the topic id last; the file has a header.

    python3 tests/e2e/gen_bag_ids.py      (from the repository root)

The output is fixed by the seed below; tests/e2e/bag_ids.nn trains on it.
"""
import random

ROWS = 90
VOCAB = 20
TOKENS = 6


def main():
    rng = random.Random(7)
    with open("tests/e2e/bag_ids.csv", "w") as f:
        f.write(",".join("w%d" % i for i in range(TOKENS)) + ",topic\n")
        for r in range(ROWS):
            topic = r % 3
            ids = [rng.randrange(6 * topic, 6 * topic + 6) if rng.random() < 0.6 else rng.randrange(VOCAB)
                   for _ in range(TOKENS)]
            f.write(",".join(str(i) for i in ids) + ",%d\n" % topic)


if __name__ == "__main__":
    main()
