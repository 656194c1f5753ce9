"""How often a new user's zip was seen in training, and how many training users share it.

Reads the prepared splits of $FLIP_HOME (default ~/.cache/flip); prints one block per dataset.
"""
import collections
import json
import os

import numpy as np
import pyarrow.parquet as pq

home = os.environ.get("FLIP_HOME", os.path.expanduser("~/.cache/flip"))
for ds in ["ml-1m-short-temporal", "ml-100k-temporal"]:
    d = f"{home}/prepared/{ds}/"
    meta = json.load(open(d + "meta.json"))
    names = [f["name"] for f in meta["fields"]]
    offset = {f["name"]: f["offset"] for f in meta["fields"]}
    ui, zi = names.index("user_id"), names.index("zip")
    ids = lambda split: np.array(pq.read_table(d + split, columns=["ids"]).column("ids").to_pylist())
    train, test = ids("train.parquet"), ids("test.parquet")
    oov_user, oov_zip = offset["user_id"] + 1, offset["zip"] + 1
    users_of_zip = collections.defaultdict(set)
    for u, z in zip(train[:, ui], train[:, zi]):
        users_of_zip[z].add(u)
    new = test[:, ui] == oov_user
    zips = test[new, zi]
    seen = zips[zips != oov_zip]
    sharing = [len(users_of_zip[z]) for z in seen]
    print(f"{ds}: {len(test)} test rows, {new.sum()} of new users")
    print(f"  new users' rows whose zip was seen in training: {np.mean(zips != oov_zip):.3f}")
    print(f"  training users with that zip: median {np.median(sharing):.0f}, exactly one {np.mean([s == 1 for s in sharing]):.3f}")
    print(f"  training: {len(users_of_zip)} zips, {len(set(train[:, ui]))} users, "
          f"zips with one user {np.mean([len(v) == 1 for v in users_of_zip.values()]):.3f}")
