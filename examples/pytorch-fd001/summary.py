"""Mean, min and max of the test figures of the seeds train.py wrote.

usage: summary.py WORK
"""
import glob
import json
import os
import sys

runs = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(sys.argv[1], "seed-*", "metrics.json")))]
if not runs:
    sys.exit("summary: no seed-*/metrics.json in " + sys.argv[1])
for key in ("rmse_last_cycle_capped", "phm08_capped"):
    v = [r[key] for r in runs]
    print("%s over seeds %s: mean %.2f min %.2f max %.2f" % (key, [r["seed"] for r in runs], sum(v) / len(v), min(v), max(v)))
