"""Scaling benchmark: fit time and peak memory against n for CORAL, SA, TCA, JDA, KMM and OT mapping.

    python benchmarks/perf/scaling.py [--max-n 200000] [--quick] [--timeout 180] [--d 256]

Data: synthetic shifted Gaussians, ``d`` features (256), 5 classes, half the rows source and half
target; the target is shifted and rescaled. Every (method, variant, n) is fitted in a *fresh*
subprocess, so that its peak resident memory (``ru_maxrss``, which numpy / BLAS allocations count and
``tracemalloc`` does not see in full) belongs to that fit alone; the subprocess is killed after
``--timeout`` seconds, and a variant that timed out, was refused (``InsufficientMemoryError``) or
failed is not run at larger ``n``. Exact kernel variants run up to ``--max-exact-n`` rows.

Every strategy classifies with the same linear, closed-form classifier (``RidgeClassifier``):
the defaults (1-NN for TCA / JDA / OT, a cross-validated SVM for CORAL / SA / KMM) are quadratic or
worse in ``n`` by themselves and would hide the cost of the adaptation, which is what is measured.
The fit time covers the whole ``fit`` (adaptation + that classifier).

Writes ``benchmarks/results/perf_scaling.md`` (times, peak memory, the least-squares slope of log
time on log n over the upper range of each line) and ``perf_scaling.png`` (log-log, one line per
method and variant, slope in the legend).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import platform
import resource
import subprocess
import sys
import time

import numpy as np

RESULTS = pathlib.Path(__file__).resolve().parents[1] / "results"

#: (method, variant) in the order of the table. "exact" for CORAL / SA is their only (streamed) form.
METHODS = [
    ("CORAL", "exact"),
    ("SA", "exact"),
    ("TCA", "primal"),
    ("TCA", "nystroem"),
    ("TCA", "exact"),
    ("JDA", "nystroem"),
    ("JDA", "exact"),
    ("KMM", "nystroem"),
    ("KMM", "exact"),
    ("OT", "sinkhorn"),
    ("OT", "exact"),
]
FULL_NS = [1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000]
QUICK_NS = [1_000, 2_000, 5_000, 10_000]
#: variants whose memory is quadratic in n (an n x n kernel or an n_s x n_t coupling)
QUADRATIC = {("TCA", "exact"), ("JDA", "exact"), ("KMM", "exact"), ("OT", "sinkhorn"), ("OT", "exact")}


def make_data(n: int, d: int, seed: int = 0):
    """n rows (n//2 source, the rest target) of 5 Gaussian classes in R^d; the target is shifted and
    rescaled. Returns X, y (target labels masked -1), sample_domain, y_target."""
    rng = np.random.default_rng(seed)
    centres = 3.0 * rng.normal(size=(5, d)) / np.sqrt(d) * 4
    ns = n // 2
    nt = n - ns
    ys, yt = rng.integers(0, 5, ns), rng.integers(0, 5, nt)
    Xs = centres[ys] + rng.normal(size=(ns, d))
    Xt = 1.5 * (centres[yt] + rng.normal(size=(nt, d))) + 0.5
    X = np.vstack([Xs, Xt])
    y = np.r_[ys, np.full(nt, -1)]
    sd = np.r_[np.ones(ns, int), -np.ones(nt, int)]
    return X, y, sd, yt


def build(method: str, variant: str, d: int):
    from sklearn.linear_model import RidgeClassifier

    from tltaxonomy.transductive import CORAL, JDA, KMM, TCA, OTMapping, SubspaceAlignment

    clf = RidgeClassifier()
    if method == "CORAL":
        return CORAL(estimator=clf)
    if method == "SA":
        return SubspaceAlignment(n_components=min(80, d), estimator=clf)
    if method in ("TCA", "JDA"):
        cls = TCA if method == "TCA" else JDA
        if variant == "primal":
            return cls(n_components=min(100, d), estimator=clf)
        return cls(n_components=min(100, d), kernel="rbf", gamma=1.0, approximation=variant, n_landmarks=500,
                   estimator=clf, random_state=0)
    if method == "KMM":
        return KMM(approximation=variant, n_landmarks=500, estimator=clf, random_state=0)
    if method == "OT":
        return OTMapping(method=variant, estimator=clf)
    raise ValueError(f"unknown method {method!r}")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def run_one(method: str, variant: str, n: int, *, d: int = 256, seed: int = 0) -> dict:
    """Fit one (method, variant) on n rows in this process; returns the measurements."""
    from tltaxonomy._errors import InsufficientMemoryError

    X, y, sd, yt = make_data(n, d, seed)
    est = build(method, variant, d)
    base = _rss_mb()
    row = {"method": method, "variant": variant, "n": n, "d": d, "base_mb": base}
    t0 = time.perf_counter()
    try:
        est.fit(X, y, sample_domain=sd)
    except InsufficientMemoryError as exc:
        return {**row, "status": "refused", "message": str(exc)}
    row["fit_s"] = time.perf_counter() - t0
    row["peak_mb"] = _rss_mb()
    row["acc"] = float(np.mean(est.predict(X[sd < 0]) == yt))
    row["status"] = "ok"
    return row


def _worker(argv) -> None:
    method, variant, n, d, seed = argv[0], argv[1], int(argv[2]), int(argv[3]), int(argv[4])
    print("RESULT " + json.dumps(run_one(method, variant, n, d=d, seed=seed)), flush=True)


def run_subprocess(method, variant, n, d, seed, timeout, threads=1) -> dict:
    cmd = [sys.executable, __file__, "--worker", method, variant, str(n), str(d), str(seed)]
    env = dict(os.environ, **{k: str(threads) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
    t0 = time.perf_counter()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"method": method, "variant": variant, "n": n, "d": d, "status": "timeout", "wall_s": time.perf_counter() - t0}
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    tail = (out.stderr or out.stdout).strip().splitlines()[-1:] or [f"exit code {out.returncode}"]
    return {"method": method, "variant": variant, "n": n, "d": d, "status": "failed", "message": tail[0]}


def slope(rows, min_points: int = 3) -> tuple[float, int, int] | None:
    """Least-squares slope of log(time) on log(n) over the upper range: the points with n >= 10 000
    when there are at least 3 of them, else the last ``min_points`` measured points."""
    pts = sorted((r["n"], r["fit_s"]) for r in rows if r.get("status") == "ok")
    if len(pts) < 2:
        return None
    upper = [p for p in pts if p[0] >= 10_000]
    use = upper if len(upper) >= min_points else pts[-min_points:]
    ln = np.log([p[0] for p in use])
    lt = np.log([max(p[1], 1e-6) for p in use])
    return float(np.polyfit(ln, lt, 1)[0]), use[0][0], use[-1][0]


def _label(method, variant):
    names = {"nystroem": "Nyström", "exact": "exact", "primal": "primal", "sinkhorn": "Sinkhorn"}
    if method in ("CORAL", "SA"):
        return method
    if method == "OT":
        return f"OT mapping ({names[variant]})"
    return f"{method} ({names[variant]}{', rbf' if variant != 'primal' else ''})"


def write_report(rows, md_path, png_path, *, d: int, command: str = "", total_s: float | None = None, threads: int = 1) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = sorted({r["n"] for r in rows})
    groups = [(m, v) for m, v in METHODS if any(r["method"] == m and r["variant"] == v for r in rows)]
    fig, ax = plt.subplots(figsize=(8, 5.5))
    slopes = {}
    colours = plt.cm.tab20(np.linspace(0, 1, 20))
    for i, (m, v) in enumerate(groups):
        g = [r for r in rows if r["method"] == m and r["variant"] == v]
        pts = sorted((r["n"], r["fit_s"]) for r in g if r.get("status") == "ok")
        s = slope(g)
        slopes[(m, v)] = s
        if not pts:
            continue
        lab = _label(m, v) + (f", slope {s[0]:.2f}" if s else "")
        ax.loglog(*zip(*pts), marker="o", linestyle="--" if (m, v) in QUADRATIC else "-", label=lab,
                  color=colours[(2 * i) % 20 + (2 * i) // 20])
    ax.set_xlabel("n (rows, half source half target)")
    ax.set_ylabel("fit time (s)")
    ax.set_title(f"Fit time against n (d = {d}); slope = least squares of log t on log n, upper range")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(png_path, dpi=120)
    plt.close(fig)

    def cell(m, v, n, key):
        r = next((r for r in rows if r["method"] == m and r["variant"] == v and r["n"] == n), None)
        if r is None:
            return ""
        if r.get("status") != "ok":
            return r["status"]
        return {"fit_s": f"{r[key]:.2f}", "acc": f"{r[key]:.3f}"}.get(key, f"{r[key]:.0f}")

    head = "| method | " + " | ".join(f"{n:,}" for n in ns) + " | slope (range) |"
    sep = "|---|" + "---:|" * len(ns) + "---|"
    lines = [f"# Scaling: fit time and peak memory against n (d = {d})", ""]
    if command:
        lines += [f"Command: `{command}`" + (f" (whole run {total_s / 60:.1f} min)" if total_s else ""), ""]
    lines += [
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, numpy "
        f"{np.__version__}. Synthetic shifted Gaussians (5 classes, half source half target), one fresh "
        "process per cell, every strategy with RidgeClassifier (the default 1-NN / cross-validated SVM "
        "are themselves quadratic or worse in n). Kernel variants: RBF on L2-normalised rows, "
        "500 Nyström landmarks. `timeout` = killed at the per-run limit, `refused` = the memory guard "
        "raised InsufficientMemoryError before allocating; a variant is not run at larger n after either. "
        f"Exact kernel variants are run up to the `--max-exact-n` given. BLAS threads per fit: {threads}. "
        "Timings were taken on a machine shared with other jobs: read the slopes, not the third digit.",
        "",
        "## Fit time (s)",
        "",
        head,
        sep,
    ]
    for m, v in groups:
        s = slopes[(m, v)]
        srange = f"{s[0]:.2f} ({s[1]:,}–{s[2]:,})" if s else ""
        lines.append(f"| {_label(m, v)} | " + " | ".join(cell(m, v, n, "fit_s") for n in ns) + f" | {srange} |")
    lines += ["", "## Peak resident memory of the fitting process (MB, ru_maxrss)", "",
              "It includes the interpreter, the imports and the data (n x d float64: 410 MB at 200k x 256).", "",
              "| method | " + " | ".join(f"{n:,}" for n in ns) + " |", "|---|" + "---:|" * len(ns)]
    for m, v in groups:
        lines.append(f"| {_label(m, v)} | " + " | ".join(cell(m, v, n, "peak_mb") for n in ns) + " |")
    lines += ["", "## Target accuracy (sanity check of each fit)", "",
              "| method | " + " | ".join(f"{n:,}" for n in ns) + " |", "|---|" + "---:|" * len(ns)]
    for m, v in groups:
        lines.append(f"| {_label(m, v)} | " + " | ".join(cell(m, v, n, "acc") for n in ns) + " |")
    refused = [r for r in rows if r.get("status") in ("refused", "failed")]
    if refused:
        lines += ["", "## Refusals and failures", ""]
        lines += [f"- {_label(r['method'], r['variant'])}, n = {r['n']:,}: {r['status']}: {r.get('message', '')}" for r in refused]
    md = "\n".join(lines) + "\n"
    pathlib.Path(md_path).write_text(md)
    return md


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--max-n", type=int, default=200_000)
    p.add_argument("--max-exact-n", type=int, default=20_000, help="largest n for the exact kernel / OT variants")
    p.add_argument("--quick", action="store_true", help=f"n in {QUICK_NS}, timeout 60 s")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds per fit (killed after)")
    p.add_argument("--d", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="BLAS threads per fit (OMP/OPENBLAS/MKL_NUM_THREADS)")
    p.add_argument("--methods", default="", help="comma-separated subset, e.g. CORAL,TCA")
    p.add_argument("--stream-ns", default="500000,1000000",
                   help="extra n for CORAL and SA only (streamed covariance), timeout max(--timeout, 300 s); '' = none")
    p.add_argument("--merge", action="store_true",
                   help="keep the rows of the other methods from the existing JSON next to --out (rerun a subset)")
    p.add_argument("--out", default=str(RESULTS / "perf_scaling.md"))
    args = p.parse_args(argv)
    ns = [n for n in (QUICK_NS if args.quick else FULL_NS) if n <= args.max_n]
    timeout = min(args.timeout, 60.0) if args.quick else args.timeout
    wanted = {m.strip().upper() for m in args.methods.split(",") if m.strip()}
    stream_ns = [] if args.quick else [int(x) for x in args.stream_ns.split(",") if x.strip()]
    out = pathlib.Path(args.out)
    t_start = time.perf_counter()
    rows = []
    for m, v in METHODS:
        if wanted and m.upper() not in wanted:
            continue
        for n in ns + (stream_ns if m in ("CORAL", "SA") else []):
            timeout_n = max(timeout, 300.0) if n > args.max_n else timeout
            if (m, v) in QUADRATIC and n > args.max_exact_n:
                break
            r = run_subprocess(m, v, n, args.d, args.seed, timeout_n, args.threads)
            rows.append(r)
            shown = f"{r['fit_s']:.2f} s, peak {r['peak_mb']:.0f} MB, acc {r['acc']:.3f}" if r["status"] == "ok" else r["status"]
            print(f"{_label(m, v):32s} n={n:>7,}: {shown}", flush=True)
            if r["status"] != "ok":
                break
    total = time.perf_counter() - t_start
    json_path = out.with_suffix(".json")
    if args.merge and json_path.exists():
        ran = {(r["method"], r["variant"]) for r in rows}
        rows = [r for r in json.loads(json_path.read_text()) if (r["method"], r["variant"]) not in ran] + rows
        order = {mv: i for i, mv in enumerate(METHODS)}
        rows.sort(key=lambda r: (order[(r["method"], r["variant"])], r["n"]))
    json_path.write_text(json.dumps(rows, indent=1))
    cmd = "python benchmarks/perf/scaling.py " + " ".join(argv if argv is not None else sys.argv[1:])
    md = write_report(rows, out, out.with_suffix(".png"), d=args.d, command=cmd.strip(), total_s=total, threads=args.threads)
    print(md)
    print(f"whole run: {total:.0f} s; wrote {out}, {out.with_suffix('.png')} and {json_path}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _worker(sys.argv[2:])
    else:
        main()
