#!/usr/bin/env python3
"""gen_topics.py: writes models/data/topics.csv (400 rows) and topics_test.csv
(100 rows), the data of models/topics.nn: short "sentences" of 8 token ids
over a vocabulary of 32, each with one of 4 topics.

The data is synthetic, made up here and fixed by the seeds below (no text
from anywhere else).  The vocabulary: ids 0..5 are "function words" that
every topic uses (the, of, ...), ids 6c+6..6c+11 are topic c's own words
(c = 0..3), and ids 30 and 31 are rare words of no topic.  A sentence of
topic c draws each of its 8 tokens from topic c's words with probability
0.35, from a topic chosen at random (c's included) with probability 0.15,
from the function words with probability 0.45 and from the rare words
otherwise, so a few sentences carry almost nothing of their topic and a
perfect score is not reachable.  Topics take turns (row r has topic r
mod 4).  A row is the 8 ids and the topic id last; the file has a header.

    python3 models/data/gen_topics.py      (from the repository root)
"""
import random

VOCAB = 32
TOKENS = 8
TOPICS = 4


def token(topic, rng):
    u = rng.random()
    if u < 0.35:
        return 6 + 6 * topic + rng.randrange(6)
    if u < 0.50:
        return 6 + 6 * rng.randrange(TOPICS) + rng.randrange(6)
    if u < 0.95:
        return rng.randrange(6)
    return 30 + rng.randrange(2)


def write(path, rows, seed):
    rng = random.Random(seed)
    with open(path, "w") as f:
        f.write(",".join("w%d" % i for i in range(TOKENS)) + ",topic\n")
        for r in range(rows):
            topic = r % TOPICS
            f.write(",".join(str(token(topic, rng)) for _ in range(TOKENS)) + ",%d\n" % topic)


def main():
    write("models/data/topics.csv", 400, 31)
    write("models/data/topics_test.csv", 100, 32)


if __name__ == "__main__":
    main()
