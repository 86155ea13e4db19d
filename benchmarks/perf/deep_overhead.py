"""Deep domain adaptation: cost of one training step of each method against a source-only step.

Each method's step (its network, its transfer loss, its discriminator or kernel) is trained through
the toolkit's one loop, :class:`tltaxonomy.training.Trainer`, for ``--steps`` batches, and the time per
step is divided by the time per step of the source-only baseline (``deep_source_only``) on the same
backbone, timed in the same round. Rounds cycle through all methods (source-only first) ``--rounds``
times and the ratio reported is the median over rounds, so that load from other processes hits
numerator and denominator alike.

A joint DA step forwards the source batch **and** a target batch of the same size, so two baselines
are reported:

- ``/src-B``: source-only on the same source batch (``B`` rows): the overhead a user pays for adapting,
  including the target half of the forward / backward pass. This is the issue's definition.
- ``/src-2B``: source-only on a batch of ``2B`` rows (the rows a joint step processes): the cost of the
  transfer loss itself (discriminator, kernel, covariance, ...) beyond processing the rows.

Settings (the published tables' networks and batches, random inputs of the right shape):

- ``digits``: LeNet + 256-d bottleneck, 1x28x28 inputs, 10 classes, batches of 32 (+32 target), SGD
  lr 0.01 momentum 0.9, weight decay 1e-3, the ``inv`` schedule (``benchmarks/digits_deep.yaml``);
- ``amazon``: the DANN paper's MLP (5000-d inputs, one hidden layer of 50 sigmoid units), 2 classes,
  batches of 10 (+10), plain SGD lr 0.01 (``benchmarks/dann2016_amazon.yaml``); DANN with its
  logistic discriminator (``discriminator_layers=0``), the other methods with their defaults.

Torch uses ``--threads`` threads (default 1, what the benchmark workers use). Run
``python benchmarks/perf/deep_overhead.py [--quick]``; it writes
``benchmarks/results/perf_deep_overhead.md``. ``--profile METHOD`` prints a cProfile of that
method's steps instead.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "perf_deep_overhead.md"

METHODS = ["dann", "cdan", "dan", "deep_coral", "mcc", "mdd"]
GOAL = {"dann": 1.3, "cdan": 1.3, "dan": 1.3, "deep_coral": 1.3, "mcc": 1.3}


@dataclass(frozen=True)
class Setting:
    """A backbone + batch setting of a published table."""

    name: str
    shape: tuple[int, ...]
    n_classes: int
    batch_size: int
    common: dict
    per_method: dict


SETTINGS = {
    "digits": Setting(
        "digits", (1, 28, 28), 10, 32,
        dict(backbone="lenet", input_shape=[1, 28, 28], bottleneck_dim=256, optimizer="sgd", lr=0.01, momentum=0.9,
             weight_decay=1e-3, lr_schedule="inv", device="cpu", random_state=0),
        {},
    ),
    "amazon": Setting(
        "amazon", (5000,), 2, 10,
        dict(backbone="mlp", backbone_kwargs={"hidden": [50], "activation": "sigmoid"}, init="xavier_uniform",
             optimizer="sgd", lr=0.01, momentum=0.0, device="cpu", random_state=0),
        {"dann": dict(trade_off=0.2, schedule="constant", discriminator_layers=0)},
    ),
}


def build(method: str, setting: Setting, batch_size: int, device: str = "cpu"):
    """(trainer, network, step) of ``method`` in ``setting``; ``method="source_only"`` is the baseline."""
    from tltaxonomy import get_strategy
    from tltaxonomy.transductive.deep.methods import _SourceStep

    name = "deep_source_only" if method == "source_only" else method
    common = {**setting.common, "device": device}
    est = get_strategy(name)(**common, **setting.per_method.get(method, {}), batch_size=batch_size)
    est.input_shape_ = tuple(setting.shape)
    torch.manual_seed(0)
    net = est._build_network(setting.n_classes)
    step = _SourceStep() if method == "source_only" else est._make_step(net, setting.n_classes)
    return est, net, step


def make_data(setting: Setting, n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    xs = torch.rand((n, *setting.shape), generator=g).reshape(n, -1)
    ys = torch.randint(0, setting.n_classes, (n,), generator=g)
    xt = torch.rand((n, *setting.shape), generator=g).reshape(n, -1)
    return xs, ys, xt


def time_steps(method: str, setting: Setting, n_steps: int, *, batch_size: int | None = None, data=None,
               clock=time.perf_counter, device: str = "cpu") -> float:
    """Seconds per step of ``n_steps`` steps of the Trainer (one epoch of ``n_steps`` batches), by ``clock``.

    On CUDA the clock is read after ``torch.cuda.synchronize()``, so queued kernels are counted.
    """
    from tltaxonomy.training import Trainer

    bs = batch_size or setting.batch_size
    est, net, step = build(method, setting, bs, device)
    xs, ys, xt = data
    if method == "source_only":
        train = {"source": (xs, ys)}
    else:
        train = {"source": (xs, ys), "target": (xt,)}
    trainer = Trainer(max_epochs=1, steps_per_epoch=n_steps, batch_size=bs, lr=est.lr, optimizer=est.optimizer,
                      momentum=est.momentum, weight_decay=est.weight_decay, lr_schedule=est.lr_schedule,
                      device=device, seed=0)
    if isinstance(step, torch.nn.Module):
        step.train()
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    sync()
    t0 = clock()
    trainer.fit(net, train, step)
    sync()
    return (clock() - t0) / n_steps


def bench_setting(setting: Setting, methods: list[str], n_steps: int, rounds: int, log=print,
                  clock=time.perf_counter, device: str = "cpu") -> list[dict]:
    data = make_data(setting, max(4 * setting.batch_size, 256))
    names = ["source_only", "source_only_2B", *methods]

    def run(name):
        if name == "source_only_2B":
            return time_steps("source_only", setting, n_steps, batch_size=2 * setting.batch_size, data=data, clock=clock,
                              device=device)
        return time_steps(name, setting, n_steps, data=data, clock=clock, device=device)

    for name in names:  # warm-up: first calls allocate, select kernels, import
        run(name)
    times = {name: [] for name in names}
    for r in range(rounds):
        for name in names:
            times[name].append(run(name))
        log(f"  round {r + 1}/{rounds}: " + ", ".join(f"{k} {1e3 * v[-1]:.2f}ms" for k, v in times.items()))
    rows = []
    for name in methods:
        rB = [t / s for t, s in zip(times[name], times["source_only"])]
        r2B = [t / s for t, s in zip(times[name], times["source_only_2B"])]
        rows.append(dict(setting=setting.name, method=name, ms=1e3 * statistics.median(times[name]),
                         ms_src=1e3 * statistics.median(times["source_only"]),
                         ms_src2=1e3 * statistics.median(times["source_only_2B"]),
                         ratio_B=statistics.median(rB), ratio_2B=statistics.median(r2B)))
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| setting | method | ms / step | source-only ms (B) | source-only ms (2B) | ratio /src-B | ratio /src-2B | goal /src-B |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        goal = GOAL.get(r["method"])
        verdict = "—" if goal is None else ("≤ 1.3 ✓" if r["ratio_B"] <= goal else "> 1.3 ✗")
        lines.append(
            f"| {r['setting']} | {r['method']} | {r['ms']:.2f} | {r['ms_src']:.2f} | {r['ms_src2']:.2f} | "
            f"{r['ratio_B']:.2f} | {r['ratio_2B']:.2f} | {verdict} |"
        )
    return "\n".join(lines)


def profile(method: str, setting: Setting, n_steps: int) -> None:
    data = make_data(setting, max(4 * setting.batch_size, 256))
    time_steps(method, setting, 5, data=data)
    pr = cProfile.Profile()
    pr.enable()
    time_steps(method, setting, n_steps, data=data)
    pr.disable()
    pstats.Stats(pr).sort_stats("cumulative").print_stats(35)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="few steps and rounds (a smoke run)")
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    p.add_argument("--methods", nargs="+", default=METHODS)
    p.add_argument("--steps", type=int, default=None, help="steps per timing (default 40 digits / 200 amazon)")
    p.add_argument("--rounds", type=int, default=None, help="rounds over all methods (default 5)")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--clock", choices=["cpu", "wall"], default="cpu",
                   help="cpu = this thread's CPU time (time.thread_time; with one torch thread it is the step's "
                        "work, little affected by other processes' load), wall = time.perf_counter; "
                        "--device cuda always uses the wall clock")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="where the steps run (cuda: the Trainer's pinned, non-blocking copies; wall clock after "
                        "torch.cuda.synchronize)")
    p.add_argument("--profile", default=None, help="print a cProfile of this method's steps and exit")
    p.add_argument("--out", type=Path, default=RESULTS)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    default_steps = {"digits": 40, "amazon": 200}
    if args.profile:
        s = SETTINGS[args.settings[0]]
        profile(args.profile, s, args.steps or default_steps[s.name])
        return 0
    rounds = args.rounds or (2 if args.quick else 5)
    if args.device == "cuda":
        if not torch.cuda.is_available():
            print("SKIP: --device cuda but no CUDA device")
            return 0
        args.clock = "wall"  # the CPU time of the launching thread is not the GPU's work
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    rows = []
    t0 = time.time()
    for name in args.settings:
        s = SETTINGS[name]
        n_steps = args.steps or (5 if args.quick else default_steps[name])
        print(f"{name}: {n_steps} steps x {rounds} rounds, batch {s.batch_size}", flush=True)
        rows += bench_setting(s, args.methods, n_steps, rounds, log=lambda m: print(m, flush=True), clock=clock,
                              device=args.device)
    text = table(rows)
    print("\n" + text)
    load = os.getloadavg()
    where = (f"CUDA ({torch.cuda.get_device_name(0)}, CUDA {torch.version.cuda})" if args.device == "cuda"
             else "CPU")
    flags = (" --quick" if args.quick else "") + ("" if args.clock == "cpu" or args.device == "cuda" else " --clock wall") \
        + ("" if args.device == "cpu" else f" --device {args.device}")
    out = f"""# Deep DA: time per training step against a source-only step

Command: `python benchmarks/perf/deep_overhead.py{flags}` (rounds = {rounds}, torch threads =
{args.threads}, torch {torch.__version__}, {where}, {platform.machine()}, {os.cpu_count()} cores). Total {time.time() - t0:.0f} s.
Clock: **{'CPU time of the training thread (`time.thread_time`)' if args.clock == 'cpu' else 'wall time (`time.perf_counter`)'}**.
Load average of this machine at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (over 1 / 5 / 15 min).
Each ratio is the median over rounds of a method's time over the source-only time of the same round,
so that load from other processes hits numerator and denominator alike.

Each timing is one `Trainer.fit` epoch of N steps (data loaders, forward, backward, optimiser step,
logging: everything a user's step costs), divided by N. Random inputs of the tables' shapes.

- **ratio /src-B** — against source-only on the same source batch (B rows). A joint step also forwards
  B target rows, so even a free transfer loss costs about the 2B / B ratio of the backbone. This is the
  issue's goal (≤ 1.3 for DANN, CDAN, DAN, Deep CORAL, MCC).
- **ratio /src-2B** — against source-only on 2B rows (the rows a joint step processes): the cost of the
  transfer loss, discriminator and second loader beyond processing the rows.

Settings: digits = LeNet + 256-d bottleneck, batch 32 (+32 target), SGD, `inv` schedule
(`benchmarks/digits_deep.yaml`); amazon = 5000-d input, MLP 50 sigmoid units, batch 10 (+10), SGD
(`benchmarks/dann2016_amazon.yaml`; DANN with its logistic discriminator, the others their defaults).

{text}
"""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
