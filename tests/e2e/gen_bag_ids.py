#!/usr/bin/env python3
"""gen_bag_ids.py: writes tests/e2e/bag_ids.csv (90 rows) and bag_ids_test.csv
(30 rows): rows of 6 token ids and a topic.

Three topics made up here over a vocabulary of 20 ids: topic c draws each
of its 6 tokens from its own ids 6c..6c+5 with probability 0.6, else from
any of the 20 (ids 18 and 19 belong to no topic).  A row is the 6 ids and
the topic id last; the file has a header.

    python3 tests/e2e/gen_bag_ids.py      (from the repository root)

The output is fixed by the seeds below; tests/e2e/bag_ids.nn trains on it.
"""
import random

VOCAB = 20
TOKENS = 6


def write(path, rows, seed):
    rng = random.Random(seed)
    with open(path, "w") as f:
        f.write(",".join("w%d" % i for i in range(TOKENS)) + ",topic\n")
        for r in range(rows):
            topic = r % 3
            ids = [rng.randrange(6 * topic, 6 * topic + 6) if rng.random() < 0.6 else rng.randrange(VOCAB)
                   for _ in range(TOKENS)]
            f.write(",".join(str(i) for i in ids) + ",%d\n" % topic)


def main():
    write("tests/e2e/bag_ids.csv", 90, 7)
    write("tests/e2e/bag_ids_test.csv", 30, 8)


if __name__ == "__main__":
    main()
