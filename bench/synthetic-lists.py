#!/usr/bin/env python3
"""Writes a synthetic list folder with N domains (default 5,000,000), the size of a real UT1
deployment, for index benchmarks. Names are made of pronounceable random labels under a
realistic spread of top-level domains, with some subdomains, split over a few categories the
way a real set is (mostly adult). Deterministic for a given seed.

usage: synthetic-lists.py OUT_DIR [N] [SEED]
"""
import os
import random
import sys

out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 5_000_000
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 20261123
rnd = random.Random(seed)

tlds = ["com"] * 50 + ["net"] * 8 + ["org"] * 6 + ["de", "fr", "ru", "info", "co.uk", "nl", "it", "pl",
        "xyz", "online", "site", "top", "jp", "br", "es", "io", "me", "tv", "biz", "cz"] * 2
consonants = "bcdfghjklmnprstvwz"
vowels = "aeiou"


def label():
    parts = [rnd.choice(consonants) + rnd.choice(vowels) for _ in range(rnd.randint(2, 5))]
    word = "".join(parts)
    r = rnd.random()
    if r < 0.25:
        word += str(rnd.randint(1, 999))
    elif r < 0.4:
        word += "-" + "".join(rnd.choice(consonants) + rnd.choice(vowels) for _ in range(rnd.randint(1, 3)))
    return word


categories = [("adult", 0.80), ("gambling", 0.06), ("games", 0.05), ("redirector", 0.05), ("drogue", 0.04)]
os.makedirs(out, exist_ok=True)
files = {c: open(os.path.join(out, f"{c}.domains"), "w") for c, _ in categories}
seen = set()
written = 0
while written < n:
    name = label() + "." + rnd.choice(tlds)
    if rnd.random() < 0.15:
        name = rnd.choice(["www", "m", "cdn", "img", "static", label()]) + "." + name
    if name in seen:
        continue
    seen.add(name)
    r = rnd.random()
    acc = 0.0
    for c, share in categories:
        acc += share
        if r <= acc:
            break
    files[c].write(name + "\n")
    written += 1
for f in files.values():
    f.close()

# A query mix like the shared DNS workload: a quarter listed names, a tenth subdomains of
# listed names, the rest names that are not listed. Written beside the lists, not inside the
# list folder, so it is never compiled as a list.
listed = rnd.sample(sorted(seen), min(60_000, len(seen)))
with open(os.path.join(os.path.dirname(os.path.abspath(out)), os.path.basename(out) + "-workload.txt"), "w") as w:
    for i in range(200_000):
        r = rnd.random()
        if r < 0.25:
            name = listed[i % len(listed)]
        elif r < 0.35:
            name = rnd.choice(["www", "cdn", "m", label()]) + "." + listed[i % len(listed)]
        else:
            name = label() + "." + label() + "." + rnd.choice(tlds)
        w.write(name + "\n")
print(f"wrote {written} domains to {out}")
