"""GPU readiness of the training loop: run it on a CUDA device when one exists, skip cleanly otherwise.

Checks, each printed as ``ok`` / ``FAIL``:

1. ``resolve_device("auto")`` picks CUDA;
2. the Trainer's loaders pin their batches (``pin_memory``) on CUDA and copy them with
   ``non_blocking=True``;
3. a DANN fit with ``device="auto"`` trains on the GPU (the network's parameters are on CUDA during
   training) and returns a CPU model whose target predictions are finite;
4. ``Trainer(mixed_precision="bf16")`` and ``"fp16"`` (with its GradScaler) train a LeNet DANN under
   autocast: the losses are finite and the classifier learns a plain label (>= 90 % source accuracy,
   within 5 points of the float32 run). The total DANN loss is not required to decrease: its domain
   term rises as the features align;
5. throughput of the digits DANN step (LeNet, 32 + 32 images) on the GPU in float32, bf16 and fp16,
   and on the CPU for reference.

Without CUDA it prints ``SKIP: no CUDA device`` and exits 0 (``--require-gpu`` makes it exit 1). Run
``python benchmarks/perf/gpu_check.py``.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

FAILED: list[str] = []


def check(name: str, ok: bool, detail: str = "") -> None:
    print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)
    if not ok:
        FAILED.append(name)


def _separable(n: int, seed: int = 0):
    """Images whose class is plain to see (class 1: the top half is brighter), source and shifted target."""
    rng = np.random.default_rng(seed)
    ys = rng.integers(0, 2, n)
    Xs = 0.5 * rng.random((n, 784), dtype=np.float32)
    Xs[ys == 1, :392] += 0.5
    Xt = np.clip(Xs + 0.1 * rng.standard_normal(Xs.shape).astype(np.float32), 0, 1)
    return Xs, ys.astype(np.int64), Xt


DANN_KW = dict(backbone="lenet", input_shape=[1, 28, 28], bottleneck_dim=256, optimizer="sgd", lr=0.01, momentum=0.9,
               weight_decay=1e-3, batch_size=32, selection="last", random_state=0)


def check_device_and_pinning() -> None:
    from tltaxonomy.training import resolve_device
    from tltaxonomy.training import trainer as tr

    dev = resolve_device("auto")
    check("resolve_device('auto') is CUDA", dev.type == "cuda", str(dev))
    seen = {}
    original = tr._make_loader

    def spy(*args, **kwargs):
        seen["pin_memory"] = kwargs.get("pin_memory")
        return original(*args, **kwargs)

    tr._make_loader = spy
    try:
        X, y = torch.randn(64, 5), torch.randint(0, 2, (64,))
        tr.Trainer(max_epochs=1, batch_size=16, device="auto").fit(torch.nn.Linear(5, 2), (X, y))
    finally:
        tr._make_loader = original
    check("loaders pin memory on CUDA", seen.get("pin_memory") is True, f"pin_memory={seen.get('pin_memory')}")


def check_dann_on_gpu() -> None:
    from tltaxonomy.transductive import DANN
    from tltaxonomy.transductive.deep import methods

    Xs, ys, Xt = _separable(512)
    devices = []
    original = methods.BaseDeepDA._after_training

    def spy(self, network, Xt_):
        devices.append(next(network.parameters()).device.type)
        return original(self, network, Xt_)

    methods.BaseDeepDA._after_training = spy
    try:
        est = DANN(**DANN_KW, max_epochs=2, device="auto").fit_domains(Xs, ys, Xt)
    finally:
        methods.BaseDeepDA._after_training = original
    check("DANN trains on CUDA with device='auto'", devices == ["cuda"], f"network device during training: {devices}")
    proba = est.predict_proba(Xt)
    check("fitted DANN is returned on the CPU and predicts", next(est.network_.parameters()).device.type == "cpu"
          and np.all(np.isfinite(proba)))


def _dann_parts():
    from tltaxonomy.transductive import DANN

    est = DANN(**DANN_KW)
    est.input_shape_ = (1, 28, 28)
    torch.manual_seed(0)
    net = est._build_network(2)
    step = est._make_step(net, 2)
    return net, step


def check_mixed_precision(device: str = "cuda", modes=("bf16", "fp16"), n: int = 1024, epochs: int = 4) -> None:
    """Each mode trains the LeNet DANN (its total loss, domain term included, need not decrease): the losses
    stay finite and the classifier learns a plain label as well as in float32 (within 5 points, >= 90 %)."""
    from tltaxonomy.training import Trainer

    Xs, ys, Xt = (torch.from_numpy(a) for a in _separable(n))
    accs = {}
    for mp in ("no", *modes):
        net, step = _dann_parts()
        h = Trainer(max_epochs=epochs, batch_size=32, lr=0.01, optimizer="sgd", device=device, mixed_precision=mp).fit(
            net, {"source": (Xs, ys), "target": (Xt,)}, step
        )
        net = net.cpu().eval()
        with torch.no_grad():
            accs[mp] = float((net(Xs).argmax(1) == ys).float().mean())
        if mp == "no":
            check("float32 reference trains", accs[mp] >= 0.9, f"source accuracy {accs[mp]:.3f}")
            continue
        ok = all(np.isfinite(h.losses)) and accs[mp] >= 0.9 and abs(accs[mp] - accs["no"]) <= 0.05
        check(f"mixed_precision={mp!r} trains (finite losses, accuracy as float32)", ok,
              f"source accuracy {accs[mp]:.3f} (float32 {accs['no']:.3f}), losses {np.round(h.losses, 4).tolist()}")


def throughput(device: str, mp: str, steps: int = 200, warmup: int = 20, n: int = 4096) -> float:
    from tltaxonomy.training import Trainer

    Xs, ys, Xt = (torch.from_numpy(a) for a in _separable(n))
    net, step = _dann_parts()
    tr = Trainer(max_epochs=1, steps_per_epoch=warmup, batch_size=32, lr=0.01, optimizer="sgd", device=device, mixed_precision=mp)
    tr.fit(net, {"source": (Xs, ys), "target": (Xt,)}, step)  # warm-up (cuDNN autotune, allocator)
    tr.steps_per_epoch = steps
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    tr.fit(net, {"source": (Xs, ys), "target": (Xt,)}, step)
    if device == "cuda":
        torch.cuda.synchronize()
    return steps * 64 / (time.perf_counter() - t0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--require-gpu", action="store_true", help="exit 1 instead of skipping when there is no CUDA device")
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        print(f"SKIP: no CUDA device (torch {torch.__version__}, cuda build: {torch.version.cuda})")
        return 1 if args.require_gpu else 0
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    check_device_and_pinning()
    check_dann_on_gpu()
    check_mixed_precision()
    print("\nDANN digits step throughput (samples / s, 32 + 32 images, LeNet):")
    for device, mp in (("cuda", "no"), ("cuda", "bf16"), ("cuda", "fp16"), ("cpu", "no")):
        steps = 200 if device == "cuda" else 20
        print(f"  {device:4s} {mp:4s} {throughput(device, mp, steps):10.0f}", flush=True)
    print(f"\n{len(FAILED)} check(s) failed" + (f": {FAILED}" if FAILED else ""))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
