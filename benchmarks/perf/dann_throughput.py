"""DANN training throughput (samples per second): tltaxonomy against skada, the digits deep setting.

The setting of ``benchmarks/digits_deep.yaml``: MNIST -> USPS, LeNet + a 256-d bottleneck
(linear, batch-norm, ReLU) + a linear head, batches of 32 source + 32 target images, SGD lr 0.01,
momentum 0.9, weight decay 1e-3, a 2 x 1024 discriminator with batch-norm, trade-off 1.

skada gets **the same network object** (our ``DANetwork``, built with the same seed; ``layer_name =
"bottleneck"``, the features the discriminator sees) and the same discriminator (ours, followed by a
sigmoid, because skada's ``DANNLoss`` uses ``BCELoss`` on probabilities), the same optimiser and
batch size (skada's ``DomainBalancedDataLoader`` puts ``batch_size`` source and ``batch_size`` target
rows in a batch). skorch's internal validation split is switched off (``train_split=None``) and ours
trains with ``selection="last"`` (no validation pass), so both time training only. Ours runs the
constant learning rate too (the table's ``inv`` schedule is not in skada's DANN) and the DANN ramp.

Both fit one epoch on the same ``--rows`` source and target rows: skada's epoch is
``max(n_s, n_t) // 32`` batches, ours is given the same number of steps. Throughput = (source +
target rows processed) / wall time of ``fit``, timed alternately (ours, skada, ours, ...) in one
process; the ratio is the median over the pairs. Run ``python benchmarks/perf/dann_throughput.py
[--quick]``; it writes ``benchmarks/results/perf_dann_throughput.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "perf_dann_throughput.md"

BATCH = 32
OURS_KW = dict(
    backbone="lenet", input_shape=[1, 28, 28], bottleneck_dim=256, optimizer="sgd", lr=0.01, momentum=0.9,
    weight_decay=1e-3, lr_schedule="constant", batch_size=BATCH, selection="last", max_epochs=1, device="cpu",
    random_state=0, discriminator_hidden=1024, discriminator_layers=2, trade_off=1.0,
)


def load_rows(n: int, *, synthetic: bool = False):
    """``n`` MNIST source rows with labels and ``n`` USPS target rows (28x28 in [0, 1], flat float32)."""
    rng = np.random.default_rng(0)
    if synthetic:
        return (rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n), rng.random((n, 784), dtype=np.float32))
    from tltaxonomy.datasets import load_task

    t = load_task("digits", "MNIST_to_USPS")
    i = rng.choice(t.X_source.shape[0], min(n, t.X_source.shape[0]), replace=False)
    j = rng.choice(t.X_target.shape[0], min(n, t.X_target.shape[0]), replace=False)
    f = lambda a: np.ascontiguousarray(np.asarray(a, dtype=np.float32).reshape(a.shape[0], -1))  # noqa: E731
    return f(t.X_source[i]), np.asarray(t.y_source)[i].astype(np.int64), f(t.X_target[j])


def ours_fit(Xs, ys, Xt, steps: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process) of our DANN fit."""
    from tltaxonomy.transductive import DANN

    est = DANN(**OURS_KW, steps_per_epoch=steps)
    t0, c0 = time.perf_counter(), time.process_time()
    est.fit_domains(Xs, ys, Xt)
    return time.perf_counter() - t0, time.process_time() - c0


def skada_fit(Xs, ys, Xt) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process) of skada's DANN fit."""
    import sklearn
    from skada.deep import DANN as SkDANN

    from tltaxonomy.transductive import DANN
    from tltaxonomy.transductive.deep.losses import DomainDiscriminator

    proto = DANN(**OURS_KW)
    proto.input_shape_ = (1, 28, 28)
    torch.manual_seed(0)
    net = proto._build_network(10)
    disc = torch.nn.Sequential(DomainDiscriminator(256, hidden=1024, n_hidden_layers=2), torch.nn.Sigmoid())
    clf = SkDANN(
        net, layer_name="bottleneck", reg=1.0, domain_classifier=disc, batch_size=BATCH, max_epochs=1,
        optimizer=torch.optim.SGD, optimizer__lr=0.01, optimizer__momentum=0.9, optimizer__weight_decay=1e-3,
        train_split=None, device="cpu", verbose=0,
    )
    X = np.concatenate([Xs, Xt])
    y = np.concatenate([ys, -np.ones(Xt.shape[0], dtype=np.int64)])
    sd = np.concatenate([np.ones(Xs.shape[0], dtype=np.int64), -np.ones(Xt.shape[0], dtype=np.int64)])
    with sklearn.config_context(enable_metadata_routing=True), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0, c0 = time.perf_counter(), time.process_time()
        clf.fit(X, y, sample_domain=sd)
        return time.perf_counter() - t0, time.process_time() - c0


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="256 rows per domain, 2 pairs")
    p.add_argument("--rows", type=int, default=None, help="rows per domain (default 2048)")
    p.add_argument("--repeats", type=int, default=None, help="alternating (ours, skada) pairs (default 3)")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--synthetic", action="store_true", help="random images instead of MNIST / USPS")
    p.add_argument("--out", type=Path, default=RESULTS)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    n = args.rows or (256 if args.quick else 2048)
    repeats = args.repeats or (2 if args.quick else 3)
    Xs, ys, Xt = load_rows(n, synthetic=args.synthetic)
    steps = max(Xs.shape[0], Xt.shape[0]) // BATCH
    rows_per_fit = steps * 2 * BATCH
    ours_fit(Xs[:128], ys[:128], Xt[:128], 2)  # warm-up (imports, allocator)
    skada_fit(Xs[:128], ys[:128], Xt[:128])
    t_o, t_s, c_o, c_s, ratio, cratio = [], [], [], [], [], []
    for r in range(repeats):
        a, ca = ours_fit(Xs, ys, Xt, steps)
        b, cb = skada_fit(Xs, ys, Xt)
        t_o.append(a), t_s.append(b), c_o.append(ca), c_s.append(cb), ratio.append(b / a), cratio.append(cb / ca)
        print(f"pair {r + 1}: ours {rows_per_fit / a:.0f} samples/s ({a:.2f} s wall, {ca:.2f} s CPU), skada "
              f"{rows_per_fit / b:.0f} samples/s ({b:.2f} s wall, {cb:.2f} s CPU)", flush=True)
    so, ss = rows_per_fit / statistics.median(t_o), rows_per_fit / statistics.median(t_s)
    cso, css = rows_per_fit / statistics.median(c_o), rows_per_fit / statistics.median(c_s)
    speedup, cspeedup = statistics.median(ratio), statistics.median(cratio)
    import skada
    import skorch

    load = os.getloadavg()
    table = (
        "| library | samples / s, wall (median) | fit s, wall | samples / CPU-s (median) | fit CPU s |\n"
        "|---|---:|---:|---:|---:|\n"
        f"| tltaxonomy DANN | {so:.0f} | {statistics.median(t_o):.2f} | {cso:.0f} | {statistics.median(c_o):.2f} |\n"
        f"| skada DANN | {ss:.0f} | {statistics.median(t_s):.2f} | {css:.0f} | {statistics.median(c_s):.2f} |\n"
    )
    print("\n" + table + f"\nthroughput ours / skada (median of pairs): wall {speedup:.2f}, CPU time {cspeedup:.2f}")
    text = f"""# DANN throughput: tltaxonomy vs skada (digits deep setting)

Command: `python benchmarks/perf/dann_throughput.py{' --quick' if args.quick else ''}` ({n} MNIST source + {n} USPS target rows,
one epoch of {steps} steps of {BATCH} + {BATCH} images, {repeats} alternating pairs, torch threads = {args.threads}).
Versions: torch {torch.__version__}, skada {skada.__version__}, skorch {skorch.__version__}; CPU, {platform.machine()},
{os.cpu_count()} cores. Load average of the machine at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (over 1 / 5 /
15 min; this run accounts for about 1 of it); the ratio is the median over the alternating pairs, so that load
from other processes hits both sides alike.

Same network object (LeNet + 256-d bottleneck + head, our `DANetwork`), same 2 x 1024 batch-norm
discriminator (+ sigmoid for skada's `BCELoss`), SGD lr 0.01 / momentum 0.9 / weight decay 1e-3, constant
learning rate, no validation pass in either (skorch `train_split=None`, ours `selection="last"`).
Samples = source + target rows processed in the epoch; time = the whole `fit`.

{table}
**Throughput ours / skada = {speedup:.2f} in wall time, {cspeedup:.2f} in CPU time of the process** (> 1: ours
processes more samples per second). With one torch thread the CPU time is the work done, little
affected by the other processes; the wall time is what a user waits, on this loaded machine.
"""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
