"""Train a small 1D-CNN on the rows `edgepm features export` wrote for
C-MAPSS FD001 and export it to ONNX for `edgepm model build`.

The input rows are exactly what the gateway feeds the model (the normalised
30-cycle window of 14 sensors, front-padded while a unit's window fills), so
there is no Python re-implementation of serving.

usage:
  train.py --work DIR --seed S [--validate] [--channels C] [--epochs E]
    DIR holds train_rows.csv, train_truth.csv, test_rows.csv, test_truth.csv
    (see the Makefile target example-pytorch). --validate trains on the 80
    training units whose id is not a multiple of 5 and reports the RMSE over
    every cycle of the other 20 (how the hyperparameters were chosen);
    otherwise trains on all 100 and writes DIR/seed-S/{model.onnx,
    test_pred.csv, metrics.json}.
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
from torch import nn

T, S, CAP = 30, 14, 125.0  # T: window.size of spec.yaml (--window)


def load(work, name):
    """rows and truth of one split, cached as .npz next to the CSVs"""
    cache = os.path.join(work, name + ".npz")
    if os.path.exists(cache):
        z = np.load(cache)
        return z["x"], z["unit"], z["cycle"], z["rul"]
    x = np.loadtxt(os.path.join(work, name + "_rows.csv"), delimiter=",", skiprows=1,
                   usecols=range(2, 2 + T * S), dtype=np.float32).reshape(-1, T, S)
    tr = np.loadtxt(os.path.join(work, name + "_truth.csv"), delimiter=",", skiprows=1,
                    usecols=(2, 3, 4), dtype=np.int64)
    # features export writes one row per reading in file order, as prep.py wrote the truth
    assert len(tr) == len(x), (len(tr), len(x))
    np.savez(cache, x=x, unit=tr[:, 0], cycle=tr[:, 1], rul=tr[:, 2])
    return x, tr[:, 0], tr[:, 1], tr[:, 2]


class CNN(nn.Module):
    """[N, T, S] -> [N, 1] remaining useful life in cycles."""

    def __init__(self, c=12, hidden=32, dropout=0.0):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv1d(S, c, 3, padding=1), nn.ReLU(),
            nn.Conv1d(c, c, 3, stride=2, padding=1), nn.ReLU())
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(c * ((T + 1) // 2), hidden), nn.ReLU(),
                                  nn.Dropout(dropout), nn.Linear(hidden, 1))

    def forward(self, x):
        y = self.head(self.conv(x.transpose(1, 2)))
        return torch.relu(y) * CAP  # trained on RUL / 125; served in cycles, never negative


def fit(x, y, seed, args):
    torch.manual_seed(seed)
    np.random.seed(seed)
    m = CNN(args.channels, args.hidden, args.dropout)
    opt = torch.optim.Adam(m.parameters(), lr=args.lr, weight_decay=args.wd)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    xt, yt = torch.from_numpy(x), torch.from_numpy(np.minimum(y, CAP).astype(np.float32) / CAP)
    for ep in range(args.epochs):
        m.train()
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), args.batch):
            b = perm[i:i + args.batch]
            opt.zero_grad()
            loss = ((m(xt[b]).squeeze(1) / CAP - yt[b]) ** 2).mean()
            loss.backward()
            opt.step()
        sched.step()
    m.eval()
    return m


def predict(m, x):
    with torch.no_grad():
        return m(torch.from_numpy(x)).squeeze(1).numpy()


def scores(pred, true):
    d = pred - true
    rmse = float(np.sqrt(np.mean(d ** 2)))
    phm = float(np.sum(np.where(d < 0, np.exp(-d / 13) - 1, np.exp(d / 10) - 1)))
    return rmse, phm


def main():
    global T
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--validate", action="store_true")
    ap.add_argument("--channels", type=int, default=12)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--wd", type=float, default=0.0, help="Adam weight decay (L2)")
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--window", type=int, default=30, help="window.size of the spec the rows were exported with")
    args = ap.parse_args()
    T = args.window
    torch.set_num_threads(1)
    x, unit, cycle, rul = load(args.work, "train")
    began = time.time()
    if args.validate:
        held = unit % 5 == 0
        m = fit(x[~held], rul[~held], args.seed, args)
        rmse, _ = scores(predict(m, x[held]), np.minimum(rul[held], CAP))
        print(json.dumps({"validate": True, "seed": args.seed, "channels": args.channels, "hidden": args.hidden,
                          "epochs": args.epochs, "lr": args.lr, "wd": args.wd, "dropout": args.dropout, "val_rmse_every_cycle": round(rmse, 3),
                          "seconds": round(time.time() - began, 1)}))
        return
    m = fit(x, rul, args.seed, args)
    xt, tunit, tcycle, trul = load(args.work, "test")
    pred = predict(m, xt)
    last = np.zeros(len(xt), dtype=bool)
    last[np.r_[np.nonzero(np.diff(tunit))[0], len(tunit) - 1]] = True
    rmse, phm = scores(pred[last], np.minimum(trul[last], CAP))
    out = os.path.join(args.work, "seed-%d" % args.seed)
    os.makedirs(out, exist_ok=True)
    torch.onnx.export(m, torch.zeros(1, T, S), os.path.join(out, "model.onnx"), input_names=["window"],
                      output_names=["rul"], dynamic_axes={"window": {0: "N"}, "rul": {0: "N"}}, opset_version=13)
    with open(os.path.join(out, "test_pred.csv"), "w") as f:
        f.write("device,cycle,rul\n")
        for u, c, p in zip(tunit, tcycle, pred):
            f.write("engine-%03d,%d,%.9g\n" % (u, c, p))
    met = {"seed": args.seed, "rmse_last_cycle_capped": round(rmse, 3), "phm08_capped": round(phm, 1),
           "units": int(last.sum()), "params": sum(p.numel() for p in m.parameters()),
           "channels": args.channels, "hidden": args.hidden, "epochs": args.epochs, "lr": args.lr,
           "wd": args.wd, "dropout": args.dropout,
           "batch": args.batch, "seconds": round(time.time() - began, 1), "torch": torch.__version__}
    json.dump(met, open(os.path.join(out, "metrics.json"), "w"))
    print(json.dumps(met))


if __name__ == "__main__":
    main()
