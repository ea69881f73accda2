"""C-MAPSS text files -> edgepm readings CSV (device,ts,op_setting_1..3,s1..s21).

Device ids, value names and timestamps are those `firmware-sim
--replay-cmapss` publishes (engine-001, s2, ..., cycle c at c seconds), so the
rows `edgepm features export` computes from this file are the rows the
gateway scores for the replay. Also writes the truth: unit, cycle, RUL.

usage: prep.py CMAPSS_DIR OUT_DIR
"""
import os
import sys

NAMES = ["op_setting_1", "op_setting_2", "op_setting_3"] + ["s%d" % i for i in range(1, 22)]


def convert(src, dst, truth, final_rul=None):
    rows = [line.split() for line in open(src) if line.strip()]
    last = {}
    for r in rows:
        last[int(r[0])] = max(last.get(int(r[0]), 0), int(r[1]))
    with open(dst, "w") as out, open(truth, "w") as tr:
        out.write("device,ts," + ",".join(NAMES) + "\n")
        tr.write("device,ts,unit,cycle,rul\n")
        for r in rows:
            unit, cycle = int(r[0]), int(r[1])
            dev, ts = "engine-%03d" % unit, cycle * 1000
            out.write("%s,%d,%s\n" % (dev, ts, ",".join(r[2:26])))
            rul = last[unit] - cycle + (final_rul[unit - 1] if final_rul else 0)
            tr.write("%s,%d,%d,%d,%d\n" % (dev, ts, unit, cycle, rul))


def main():
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    convert(os.path.join(src, "train_FD001.txt"), os.path.join(out, "train.csv"), os.path.join(out, "train_truth.csv"))
    rul = [int(x) for x in open(os.path.join(src, "RUL_FD001.txt")).read().split()]
    convert(os.path.join(src, "test_FD001.txt"), os.path.join(out, "test.csv"), os.path.join(out, "test_truth.csv"), rul)


if __name__ == "__main__":
    main()
