"""Train a small PyTorch network on the rows `edgepm features export` wrote
for C-MAPSS FD001 and export it to ONNX for `edgepm model build`.

The input rows are exactly what the gateway feeds the model (the normalised
window of 14 sensors, front-padded while a unit's window fills), so there is
no Python re-implementation of serving. --arch chooses the network; the
Makefile's EXAMPLE_TRAIN holds the recipe chosen by --validate (docs/models.md,
"Bring your own model", tables 1-4): timemlp over a 200-cycle window. The
exported graph averages --members networks (one ONNX file, one package).
Weights below float32's smallest normal number are set to 0 before export
(flush_denormals): they change nothing but make CPUs slow.

usage:
  train.py --work DIR --seed S [--validate [--seeds 1,2,3]] [--window T] [--members K] ...
    DIR holds train_rows.csv, train_truth.csv, test_rows.csv, test_truth.csv
    (see the Makefile target example-pytorch). Rows exported with a window
    longer than --window are cut to their newest T readings.
    --validate: 5-fold cross-validation over the 100 training units (fold f
    holds out the units whose id % 5 == f) scored as the test set is: the
    prediction at a truncation point of each held-out unit, for every
    truncation after at least 31 cycles (the shortest test_FD001 unit), true
    RUL capped at 125. This is how the hyperparameters were chosen; the test
    set is never read. --seeds repeats it once per seed and prints the mean
    (one seed's fold noise is larger than most differences between recipes).
    Otherwise trains on all 100 units and writes
    DIR/seed-S/{model.onnx, test_pred.csv, metrics.json}.
"""
import argparse
import json
import os
import time

import numpy as np
import torch
from torch import nn

S, CAP, MIN_SEEN = 14, 125.0, 31


def load(work, name, window):
    """rows (cut to the newest `window` readings) and truth of one split;
    the parsed CSV is cached as .npz next to it"""
    cache = os.path.join(work, name + ".npz")
    if os.path.exists(cache):
        z = np.load(cache)
        x, unit, cycle, rul = z["x"], z["unit"], z["cycle"], z["rul"]
    else:
        with open(os.path.join(work, name + "_rows.csv")) as f:
            cols = len(f.readline().split(","))
        x = np.loadtxt(os.path.join(work, name + "_rows.csv"), delimiter=",", skiprows=1,
                       usecols=range(2, cols), dtype=np.float32).reshape(-1, (cols - 2) // S, S)
        tr = np.loadtxt(os.path.join(work, name + "_truth.csv"), delimiter=",", skiprows=1,
                        usecols=(2, 3, 4), dtype=np.int64)
        # features export writes one row per reading in file order, as prep.py wrote the truth
        assert len(tr) == len(x), (len(tr), len(x))
        unit, cycle, rul = tr[:, 0], tr[:, 1], tr[:, 2]
        np.savez(cache, x=x, unit=unit, cycle=cycle, rul=rul)
    if x.shape[1] < window:
        raise SystemExit("train: %s rows hold %d readings, --window is %d" % (name, x.shape[1], window))
    return np.ascontiguousarray(x[:, x.shape[1] - window:]), unit, cycle, rul


class CNN(nn.Module):
    """[N, T, S] -> [N] remaining useful life / 125 (not yet clipped)."""

    def __init__(self, t, c, hidden, kernel, dropout, stride=1):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv1d(S, c, kernel, stride=stride, padding=kernel // 2), nn.ReLU(),
            nn.Conv1d(c, c, kernel, stride=2, padding=kernel // 2), nn.ReLU())
        n = self.conv(torch.zeros(1, S, t)).numel()
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(n, hidden), nn.ReLU(),
                                  nn.Dropout(dropout), nn.Linear(hidden, 1))

    def forward(self, x):
        return self.head(self.conv(x.transpose(1, 2))).squeeze(1)


class DCNN(nn.Module):
    """[N, T, S] -> [N]: --layers convolutions of --channels, kernel
    --kernel, length-preserving ("same") padding, the last --strided of
    them with stride 2; then flatten, dropout, Linear(hidden), Linear(1).
    Li et al. 2018's deep CNN for C-MAPSS is this shape (5 layers of 10
    channels, kernel 10, no strides, hidden 100)."""

    def __init__(self, t, c, hidden, kernel, dropout, layers, strided):
        super().__init__()
        conv, cin = [], S
        for i in range(layers):
            stride = 2 if i >= layers - strided else 1
            conv += [nn.Conv1d(cin, c, kernel, stride=stride, padding=(kernel - 1) // 2), nn.ReLU()]
            cin = c
        self.conv = nn.Sequential(*conv)
        n = self.conv(torch.zeros(1, S, t)).numel()
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(n, hidden), nn.ReLU(),
                                  nn.Dropout(dropout), nn.Linear(hidden, 1))

    def forward(self, x):
        return self.head(self.conv(x.transpose(1, 2))).squeeze(1)


class MLP(nn.Module):
    """[N, T, S] -> [N]: the flattened window through Linear(hidden) and
    Linear(hidden2) with ReLU, then Linear(1). Dense layers are what ONNX
    Runtime runs fastest on one core (BenchmarkPyTorchFD001Score256): a
    47k-parameter MLP scores 256 windows in a fifth of the two-convolution
    CNN's time."""

    def __init__(self, t, hidden, hidden2, dropout):
        super().__init__()
        self.f = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(t * S, hidden), nn.ReLU(),
                               nn.Dropout(dropout), nn.Linear(hidden, hidden2), nn.ReLU(), nn.Linear(hidden2, 1))

    def forward(self, x):
        return self.f(x).squeeze(1)


class TimeMLP(nn.Module):
    """[N, T, S] -> [N]: one Linear(T, --time) over each sensor's series,
    shared by the sensors (it learns the means, slopes and recent levels a
    feature engineer would), ReLU, then the S x --time values through
    Linear(hidden) and Linear(1)."""

    def __init__(self, t, ht, hidden, dropout):
        super().__init__()
        self.time = nn.Linear(t, ht)
        self.f = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(S * ht, hidden), nn.ReLU(),
                               nn.Dropout(dropout), nn.Linear(hidden, 1))

    def forward(self, x):
        return self.f(torch.relu(self.time(x.transpose(1, 2)))).squeeze(1)


class GRU(nn.Module):
    """[N, T, S] -> [N]: a one-layer GRU of --hidden units over the window;
    its last state through Linear(1)."""

    def __init__(self, hidden):
        super().__init__()
        self.rnn = nn.GRU(S, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x):
        h, _ = self.rnn(x)
        return self.out(h[:, -1]).squeeze(1)


class Ensemble(nn.Module):
    """[N, T, S] -> [N, 1] remaining useful life in cycles: the mean of the
    members, each clipped at 0 (served in cycles, never negative)."""

    def __init__(self, members):
        super().__init__()
        self.members = nn.ModuleList(members)

    def each(self, x):
        return torch.stack([m(x) for m in self.members], 1)  # [N, K], RUL / 125

    def forward(self, x):
        return (torch.relu(self.each(x)) * CAP).mean(1, keepdim=True)


def build(args):
    def one():
        if args.arch == "dcnn":
            return DCNN(args.window, args.channels, args.hidden, args.kernel, args.dropout, args.layers, args.strided)
        if args.arch == "mlp":
            return MLP(args.window, args.hidden, args.hidden2, args.dropout)
        if args.arch == "timemlp":
            return TimeMLP(args.window, args.time, args.hidden, args.dropout)
        if args.arch == "gru":
            return GRU(args.hidden)
        return CNN(args.window, args.channels, args.hidden, args.kernel, args.dropout, args.stride)
    return Ensemble([one() for _ in range(args.members)])


def fit(x, y, seed, args):
    """trains every member on the same batches, each on its own squared
    (or --huber) error"""
    torch.manual_seed(seed)
    np.random.seed(seed)
    m = build(args)
    opt = torch.optim.Adam(m.parameters(), lr=args.lr, weight_decay=args.wd)
    decay = args.epochs - args.swa  # cosine decay, then --swa epochs at lr/10 whose weights are averaged
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, decay, eta_min=args.lr / 10 if args.swa else 0)
    avg = torch.optim.swa_utils.AveragedModel(m) if args.swa else None
    xt, yt = torch.from_numpy(x), torch.from_numpy(np.minimum(y, CAP).astype(np.float32) / CAP)
    for ep in range(args.epochs):
        m.train()
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), args.batch):
            b = perm[i:i + args.batch]
            opt.zero_grad()
            xb = xt[b] + args.noise * torch.randn(xt[b].shape) if args.noise else xt[b]
            d = torch.relu(m.each(xb)) - yt[b, None]
            if args.huber:  # squared within --huber of the target, linear beyond
                a = d.abs()
                loss = torch.where(a < args.huber, 0.5 * d ** 2, args.huber * (a - 0.5 * args.huber)).mean(0).sum()
            else:
                loss = (d ** 2).mean(0).sum()
            loss.backward()
            opt.step()
        if ep < decay:
            sched.step()
        else:
            avg.update_parameters(m)
    if avg is not None:
        m = avg.module  # no batch norm: nothing to recompute
    flush_denormals(m)
    m.eval()
    return m


def flush_denormals(m):
    """sets the weights smaller than float32's smallest normal number
    (1.2e-38) to 0. Weight decay leaves dead weights there; they change no
    output, but a CPU computes with denormal numbers many times slower: a
    trained network with 10-20% denormal weights scored a batch 4-7 times
    slower in ONNX Runtime (docs/models.md)."""
    tiny = torch.finfo(torch.float32).tiny
    with torch.no_grad():
        for p in m.parameters():
            p[p.abs() < tiny] = 0.0


def predict(m, x):
    with torch.no_grad():
        return torch.cat([m(torch.from_numpy(x[i:i + 4096])) for i in range(0, len(x), 4096)]).squeeze(1).numpy()


def scores(pred, true):
    d = pred - true
    rmse = float(np.sqrt(np.mean(d ** 2)))
    phm = float(np.sum(np.where(d < 0, np.exp(-d / 13) - 1, np.exp(d / 10) - 1)))
    return rmse, phm


def trainable(cycle, args):
    """the windows trained on: those of at least --min-cycle readings"""
    return cycle >= args.min_cycle


def validate(x, unit, cycle, rul, args, seed):
    """5-fold cross-validation over the training units, scored on truncation
    points (every cycle >= 31 of each held-out unit) as the test protocol is"""
    began, preds, truths, folds = time.time(), [], [], []
    for f in args.folds:
        held = unit % 5 == f
        fit_on = ~held & trainable(cycle, args)
        m = fit(x[fit_on], rul[fit_on], seed, args)
        ev = held & (cycle >= MIN_SEEN)
        p, t = predict(m, x[ev]), np.minimum(rul[ev], CAP)
        folds.append(round(scores(p, t)[0], 3))
        preds.append(p)
        truths.append(t)
    p, t = np.concatenate(preds), np.concatenate(truths)
    rmse, phm = scores(p, t)
    out = {k: v for k, v in vars(args).items() if k not in ("work", "validate", "seeds")}
    out.update({"seed": seed, "val_rmse_truncated": round(rmse, 3), "fold_rmse": folds,
                "val_phm08_per_100_units": round(phm / len(p) * 100, 1),
                "val_rmse_rul_le_125": round(scores(p[t < CAP], t[t < CAP])[0], 3),
                "seconds": round(time.time() - began, 1)})
    print(json.dumps(out), flush=True)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--seeds", type=lambda s: [int(v) for v in s.split(",")], default=None,
                    help="with --validate: run the cross-validation once per seed (comma-separated) and print the mean")
    ap.add_argument("--validate", action="store_true")
    ap.add_argument("--folds", type=lambda s: [int(f) for f in s.split(",")], default=[0, 1, 2, 3, 4],
                    help="validation folds to run (comma-separated, 0-4)")
    ap.add_argument("--window", type=int, default=30, help="readings per window (the spec's window.size)")
    ap.add_argument("--arch", choices=["cnn", "dcnn", "mlp", "timemlp", "gru"], default="cnn",
                    help="cnn: two convolutions (the example's); dcnn: --layers same-padded convolutions; gru: one GRU layer")
    ap.add_argument("--hidden2", type=int, default=32, help="mlp: units of the second layer")
    ap.add_argument("--time", type=int, default=8, help="timemlp: outputs of the linear map over each sensor's series")
    ap.add_argument("--layers", type=int, default=5, help="dcnn: convolution layers")
    ap.add_argument("--strided", type=int, default=0, help="dcnn: how many of the last layers have stride 2")
    ap.add_argument("--members", type=int, default=1, help="networks averaged inside the one ONNX graph")
    ap.add_argument("--channels", type=int, default=12)
    ap.add_argument("--kernel", type=int, default=3)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--wd", type=float, default=0.0, help="Adam weight decay (L2)")
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--stride", type=int, default=1, help="stride of the first convolution")
    ap.add_argument("--noise", type=float, default=0.0, help="std of Gaussian noise added to the (normalised) training windows")
    ap.add_argument("--swa", type=int, default=0, help="average the weights of the last SWA epochs")
    ap.add_argument("--huber", type=float, default=0.0,
                    help="Huber loss: squared within this distance of the target / 125, linear beyond (0: squared error)")
    ap.add_argument("--min-cycle", type=int, default=1, help="train on windows of at least this many readings")
    args = ap.parse_args()
    torch.set_num_threads(1)
    x, unit, cycle, rul = load(args.work, "train", args.window)
    if args.validate:
        runs = [validate(x, unit, cycle, rul, args, s) for s in args.seeds or [args.seed]]
        if len(runs) > 1:
            v = [r["val_rmse_truncated"] for r in runs]
            print(json.dumps({"seeds": [r["seed"] for r in runs], "val_rmse_truncated": v,
                              "mean": round(float(np.mean(v)), 3), "min": min(v), "max": max(v),
                              "val_phm08_per_100_units_mean": round(float(np.mean(
                                  [r["val_phm08_per_100_units"] for r in runs])), 1)}), flush=True)
        return
    began = time.time()
    on = trainable(cycle, args)
    m = fit(x[on], rul[on], args.seed, args)
    xt, tunit, tcycle, trul = load(args.work, "test", args.window)
    pred = predict(m, xt)
    last = np.zeros(len(xt), dtype=bool)
    last[np.r_[np.nonzero(np.diff(tunit))[0], len(tunit) - 1]] = True
    rmse, phm = scores(pred[last], np.minimum(trul[last], CAP))
    out = os.path.join(args.work, "seed-%d" % args.seed)
    os.makedirs(out, exist_ok=True)
    torch.onnx.export(m, torch.zeros(1, args.window, S), os.path.join(out, "model.onnx"), input_names=["window"],
                      output_names=["rul"], dynamic_axes={"window": {0: "N"}, "rul": {0: "N"}}, opset_version=13)
    with open(os.path.join(out, "test_pred.csv"), "w") as f:
        f.write("device,cycle,rul\n")
        for u, c, p in zip(tunit, tcycle, pred):
            f.write("engine-%03d,%d,%.9g\n" % (u, c, p))
    met = {k: v for k, v in vars(args).items() if k not in ("work", "validate", "folds", "seeds")}
    met.update({"rmse_last_cycle_capped": round(rmse, 3), "phm08_capped": round(phm, 1),
                "units": int(last.sum()), "params": sum(p.numel() for p in m.parameters()),
                "seconds": round(time.time() - began, 1), "torch": torch.__version__})
    json.dump(met, open(os.path.join(out, "metrics.json"), "w"))
    print(json.dumps(met))


if __name__ == "__main__":
    main()
