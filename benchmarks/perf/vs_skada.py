"""Shallow domain adaptation: tltaxonomy against skada, same tasks, same base classifier.

For every method that exists in both libraries, on the 12 Office-Caltech SURF tasks (L1 + z-score,
the CORAL / JDA papers' preprocessing) and the 12 Amazon reviews tasks (``amazon_msda400``, z-score;
rows sub-sampled per domain with ``--amazon-rows``), the script fits our strategy and skada's
pipeline **alternately** in the same process (ours, skada, ours, skada, ...; ``--repeats`` pairs),
each time ``fit`` on the stacked source + unlabelled target rows and ``predict`` on the target rows,
and records

- the target accuracy of each (transductive: the target rows given to ``fit``),
- the wall-time ratio ours / skada of each pair; the median over the pairs is the task's ratio.

Per method it prints the accuracies averaged over tasks, their difference, and the geometric mean of
the task ratios; the suite ratio is the geometric mean over methods. Our content-memoised caches
(``tltaxonomy._linalg.memoize_on_content``: PCA bases, covariance powers) are emptied before every
timed fit of ours, so that repeats time a cold fit, as a user's first fit is.

The base classifier is the same object for both libraries: 1-NN (the protocol of the TCA / JDA / SA
/ OT papers) for the mapping and subspace methods, and ``SVC(C=1, gamma=1/d)`` fitted with the
importance weights for the reweighting methods. Where the two libraries parameterise a method
differently the values are translated (see ``METHODS`` and the notes written to the results file).

skada switches scikit-learn's metadata routing on globally when imported; our fits run inside
``sklearn.config_context(enable_metadata_routing=False)`` (the default a user of tltaxonomy alone
has), skada's inside ``enable_metadata_routing=True`` (what it needs).

Run ``python benchmarks/perf/vs_skada.py [--quick]``; it writes ``benchmarks/results/perf_vs_skada.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "perf_vs_skada.md"

SURF_TASKS = ["A_to_C", "A_to_D", "A_to_W", "C_to_A", "C_to_D", "C_to_W",
              "D_to_A", "D_to_C", "D_to_W", "W_to_A", "W_to_C", "W_to_D"]
AMAZON_TASKS = ["B_to_D", "B_to_E", "B_to_K", "D_to_B", "D_to_E", "D_to_K",
                "E_to_B", "E_to_D", "E_to_K", "K_to_B", "K_to_D", "K_to_E"]
DATASETS = {
    # name: (loader dataset, preprocessing of the paper protocols, tasks)
    "surf": ("office_caltech_surf", "l1_zscore", SURF_TASKS),
    "amazon": ("amazon_msda400", "zscore", AMAZON_TASKS),
}


# ---------------------------------------------------------------------------------------------------
# Task data
# ---------------------------------------------------------------------------------------------------
@dataclass
class Task:
    """One domain-adaptation task in the shared (X, y, sample_domain) form."""

    dataset: str
    name: str
    X: np.ndarray
    y: np.ndarray  # target rows masked with -1
    sample_domain: np.ndarray
    X_target: np.ndarray
    y_target: np.ndarray
    ns: int = field(init=False)
    nt: int = field(init=False)

    def __post_init__(self):
        self.ns = int(np.sum(self.sample_domain > 0))
        self.nt = int(np.sum(self.sample_domain < 0))

    @property
    def d(self) -> int:
        return self.X.shape[1]


def make_task(dataset: str, name: str, Xs, ys, Xt, yt, max_rows: int | None = None, seed: int = 0) -> Task:
    """Stack source and target rows (optionally a seeded sub-sample of each) as skada expects."""
    rng = np.random.default_rng(seed)
    if max_rows is not None:
        if Xs.shape[0] > max_rows:
            i = np.sort(rng.choice(Xs.shape[0], max_rows, replace=False))
            Xs, ys = Xs[i], ys[i]
        if Xt.shape[0] > max_rows:
            j = np.sort(rng.choice(Xt.shape[0], max_rows, replace=False))
            Xt, yt = Xt[j], yt[j]
    Xs = np.ascontiguousarray(Xs, dtype=np.float64)
    Xt = np.ascontiguousarray(Xt, dtype=np.float64)
    X = np.vstack([Xs, Xt])
    y = np.concatenate([np.asarray(ys), -np.ones(Xt.shape[0], dtype=np.asarray(ys).dtype)])
    sd = np.concatenate([np.ones(Xs.shape[0], dtype=int), -np.ones(Xt.shape[0], dtype=int)])
    return Task(dataset, name, X, y, sd, Xt, np.asarray(yt))


def load_tasks(which: str, names: list[str], amazon_rows: int | None) -> list[Task]:
    from tltaxonomy.datasets import load_task

    dataset, preprocess, _ = DATASETS[which]
    out = []
    for name in names:
        t = load_task(dataset, name, preprocess=preprocess)
        Xs, Xt = t.X_source, t.X_target
        Xs = Xs.toarray() if hasattr(Xs, "toarray") else Xs
        Xt = Xt.toarray() if hasattr(Xt, "toarray") else Xt
        out.append(make_task(which, name, Xs, t.y_source, Xt, t.y_target,
                             max_rows=amazon_rows if which == "amazon" else None))
    return out


# ---------------------------------------------------------------------------------------------------
# The methods, as pairs of factories (task -> unfitted estimator)
# ---------------------------------------------------------------------------------------------------
def one_nn():
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(n_neighbors=1)


def weighted_svc(task: Task, routed: bool):
    """The reweighting methods' classifier: libsvm RBF, C = 1, gamma = 1/d (libsvm's default)."""
    from sklearn.svm import SVC

    clf = SVC(C=1.0, kernel="rbf", gamma=1.0 / task.d)
    return clf.set_fit_request(sample_weight=True) if routed else clf


def kliep_sigmas(task: Task) -> list[float]:
    """One width grid for both libraries: {1/4, 1/2, 1, 2, 4} x the median pairwise distance of
    (a seeded sample of) the pooled rows."""
    from sklearn.metrics import pairwise_distances

    rng = np.random.default_rng(0)
    idx = rng.choice(task.X.shape[0], min(500, task.X.shape[0]), replace=False)
    D = pairwise_distances(task.X[idx])
    med = float(np.median(D[np.triu_indices_from(D, k=1)]))
    return [f * med for f in (0.25, 0.5, 1.0, 2.0, 4.0)]


def tca_mu(task: Task, reg: float) -> float:
    """skada's TCA solves (I + mu K L K)^-1 K H K with the unnormalised MMD matrix L = e e^T; ours
    solves (K M K + reg I) w = phi K H K w with M = L / ||L||_F = L / (1/ns + 1/nt). The two
    eigen-problems have the same eigenvectors when mu = 1 / (reg (1/ns + 1/nt))."""
    return 1.0 / (reg * (1.0 / task.ns + 1.0 / task.nt))


@dataclass
class Method:
    name: str
    ours: Callable[[Task], object]
    skada: Callable[[Task], object] | None
    settings: str


def _methods() -> list[Method]:
    import skada

    from tltaxonomy.transductive import CORAL, JDA, KLIEP, KMM, TCA, OTMapping, SubspaceAlignment

    return [
        Method(
            "CORAL",
            lambda t: CORAL(reg=1.0, variant="transform", estimator=one_nn()),
            lambda t: skada.CORAL(base_estimator=one_nn(), reg=0.5),
            "ours reg=1 (C + I); skada shrinkage 0.5 ((C + tr(C)/d I)/2, the same map on z-scored rows, "
            "where tr(C)/d = 1); 1-NN",
        ),
        Method(
            "SA",
            lambda t: SubspaceAlignment(n_components=80, variant="transform", estimator=one_nn()),
            lambda t: skada.SubspaceAlignment(base_estimator=one_nn(), n_components=80),
            "d = 80 PCA directions per domain; 1-NN",
        ),
        Method(
            "TCA",
            lambda t: TCA(n_components=100, kernel="linear", reg=1.0, l2_normalize=False, estimator=one_nn()),
            lambda t: skada.TransferComponentAnalysis(
                base_estimator=one_nn(), kernel="linear", n_components=100, mu=tca_mu(t, 1.0)
            ),
            "linear kernel, k = 100, ours reg = 1 <-> skada mu = 1/(1/ns + 1/nt); no row normalisation; 1-NN",
        ),
        Method(
            "KMM",
            lambda t: KMM(gamma=1.0 / t.d, B=1000.0, eps=None, estimator=weighted_svc(t, False)),
            lambda t: skada.KMMReweight(
                base_estimator=weighted_svc(t, True), kernel="rbf", gamma=1.0 / t.d, B=1000.0, eps=None
            ),
            "RBF gamma = 1/d, B = 1000, eps = (sqrt(ns)-1)/sqrt(ns); skada's default Frank-Wolfe solver "
            "(tol 1e-6, 1000 iterations) vs our exact QP; weighted SVC(C=1, gamma=1/d)",
        ),
        Method(
            "KLIEP",
            lambda t: KLIEP(sigmas=kliep_sigmas(t), n_centers=100, cv=5, max_steps=100, estimator=weighted_svc(t, False),
                            random_state=0),
            lambda t: skada.KLIEPReweight(
                base_estimator=weighted_svc(t, True), gamma=[1.0 / (2 * s**2) for s in kliep_sigmas(t)], cv=5,
                n_centers=100, random_state=0,
            ),
            "the same width grid ({1/4..4} x median distance), 100 target centres, 5-fold likelihood CV; "
            "weighted SVC(C=1, gamma=1/d)",
        ),
        Method(
            "OT (exact)",
            lambda t: OTMapping(method="exact", norm="max", estimator=one_nn()),
            lambda t: skada.OTMapping(base_estimator=one_nn(), norm="max"),
            "exact EMD coupling, cost / max, barycentric mapping of the source; 1-NN",
        ),
        Method(
            "OT (Sinkhorn)",
            lambda t: OTMapping(method="sinkhorn", reg_e=1e-2, norm="max", estimator=one_nn()),
            lambda t: skada.EntropicOTMapping(base_estimator=one_nn(), reg_e=1e-2, norm="max"),
            "entropic, reg_e = 0.01, cost / max, at most 1000 Sinkhorn iterations; 1-NN",
        ),
        Method(
            "JDA",
            lambda t: JDA(n_components=100, kernel="linear", reg=1.0, n_iter=10, l2_normalize=False, estimator=one_nn()),
            None,
            "no JDA in skada (its TransferJointMatching is TJM, another method): ours only",
        ),
    ]


# ---------------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------------
def clear_our_caches() -> None:
    """Empty every content-memoised cache of tltaxonomy, so a timed fit of ours is a cold one."""
    for modname, mod in list(sys.modules.items()):
        if not modname.startswith("tltaxonomy") or mod is None:
            continue
        for obj in list(vars(mod).values()):
            clear = getattr(obj, "cache_clear", None)
            if callable(clear) and getattr(obj, "__module__", "").startswith("tltaxonomy"):
                clear()


#: the clock of the timings: time.perf_counter (wall, the default) or time.process_time (CPU time of
#: the process, all its threads: with one BLAS thread it is the work done, little affected by the load
#: of other processes); set by --clock
CLOCK = time.perf_counter


def run_once(est, task: Task, routed: bool) -> tuple[float, float]:
    """fit on (X, y, sample_domain) then predict the target rows; (seconds, accuracy)."""
    import sklearn

    with sklearn.config_context(enable_metadata_routing=routed), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = CLOCK()
        est.fit(task.X, task.y, sample_domain=task.sample_domain)
        pred = est.predict(task.X_target)
        dt = CLOCK() - t0
    return dt, float(np.mean(np.asarray(pred) == task.y_target))


@dataclass
class Cell:
    method: str
    dataset: str
    task: str
    acc_ours: float
    acc_skada: float | None
    t_ours: float  # median seconds
    t_skada: float | None
    ratio: float | None  # median over the alternating pairs of t_ours / t_skada


def bench_cell(m: Method, task: Task, repeats: int) -> Cell:
    t_o, t_s, ratios = [], [], []
    acc_o = acc_s = None
    for _ in range(repeats):
        clear_our_caches()
        dt, acc_o = run_once(m.ours(task), task, routed=False)
        t_o.append(dt)
        if m.skada is not None:
            ds, acc_s = run_once(m.skada(task), task, routed=True)
            t_s.append(ds)
            ratios.append(dt / ds)
    return Cell(
        m.name, task.dataset, task.name, acc_o, acc_s, statistics.median(t_o),
        statistics.median(t_s) if t_s else None, statistics.median(ratios) if ratios else None,
    )


def geomean(xs) -> float:
    xs = [x for x in xs if x is not None]
    return float(np.exp(np.mean(np.log(xs)))) if xs else float("nan")


def summarise(cells: list[Cell], methods: list[Method]) -> list[dict]:
    rows = []
    for m in methods:
        for ds in list(DATASETS) + ["all"]:
            cs = [c for c in cells if c.method == m.name and (ds == "all" or c.dataset == ds)]
            if not cs:
                continue
            ao = 100 * float(np.mean([c.acc_ours for c in cs]))
            a_s = 100 * float(np.mean([c.acc_skada for c in cs])) if cs[0].acc_skada is not None else None
            rows.append(dict(
                method=m.name, dataset=ds, n_tasks=len(cs), acc_ours=ao, acc_skada=a_s,
                diff=None if a_s is None else ao - a_s,
                t_ours=float(np.sum([c.t_ours for c in cs])),
                t_skada=None if a_s is None else float(np.sum([c.t_skada for c in cs])),
                ratio=geomean([c.ratio for c in cs]) if a_s is not None else None,
            ))
    return rows


def _fmt(x, spec="{:.1f}"):
    return "—" if x is None else spec.format(x)


def summary_table(rows: list[dict]) -> str:
    lines = [
        "| method | data | tasks | ours acc | skada acc | diff (pts) | ours s (sum) | skada s (sum) | time ours/skada (geo-mean of task medians) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['dataset']} | {r['n_tasks']} | {r['acc_ours']:.1f} | {_fmt(r['acc_skada'])} | "
            f"{_fmt(r['diff'], '{:+.1f}')} | {r['t_ours']:.2f} | {_fmt(r['t_skada'], '{:.2f}')} | "
            f"{_fmt(r['ratio'], '{:.2f}')} |"
        )
    return "\n".join(lines)


def cells_table(cells: list[Cell]) -> str:
    lines = ["| method | task | ours acc | skada acc | ours s | skada s | ratio |", "|---|---|---:|---:|---:|---:|---:|"]
    for c in cells:
        lines.append(
            f"| {c.method} | {c.dataset}:{c.task} | {100 * c.acc_ours:.1f} | "
            f"{_fmt(None if c.acc_skada is None else 100 * c.acc_skada)} | {c.t_ours:.3f} | "
            f"{_fmt(c.t_skada, '{:.3f}')} | {_fmt(c.ratio, '{:.2f}')} |"
        )
    return "\n".join(lines)


def versions() -> str:
    import ot
    import scipy
    import skada
    import sklearn

    import tltaxonomy

    return (f"tltaxonomy {getattr(tltaxonomy, '__version__', '?')}, skada {skada.__version__}, "
            f"scikit-learn {sklearn.__version__}, numpy {np.__version__}, scipy {scipy.__version__}, POT {ot.__version__}, "
            f"Python {platform.python_version()}")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="2 tasks per dataset, 2 alternating pairs (a smoke run)")
    p.add_argument("--repeats", type=int, default=None, help="alternating (ours, skada) pairs per task (default 3)")
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    p.add_argument("--methods", nargs="+", default=None, help="a subset of the method names")
    p.add_argument("--amazon-rows", type=int, default=1000, help="rows per Amazon domain (seeded sub-sample; 0 = all)")
    p.add_argument("--threads", type=int, default=1, help="BLAS threads for both libraries (threadpoolctl)")
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                   help="wall = time.perf_counter; cpu = time.process_time (the process's CPU time)")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--cache", type=Path, default=None,
                   help="a JSON-lines file of finished cells: appended as cells finish, cells already in it are "
                        "not rerun (a killed run resumes)")
    p.add_argument("--report-only", action="store_true",
                   help="write the results file from the cells in --cache without running the missing ones")
    return p.parse_args(argv)


def load_cache(path: Path | None) -> dict[tuple[str, str, str], Cell]:
    if path is None or not path.exists():
        return {}
    cells = [Cell(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]
    return {(c.method, c.dataset, c.task): c for c in cells}


NOTES = """\
## Where the two implementations differ (read from both codes; see the findings for what it costs)

- **CORAL.** skada centres both domains and regularises by shrinkage, ours re-colours the raw rows with
  `C + I`. On z-scored rows (both datasets here) shrinkage 0.5 and `reg = 1` give the same map up to
  the ddof of the covariance and the centring.
- **SA.** skada's `PCA.transform` subtracts each domain's mean before projecting, and sklearn's PCA
  picks a randomized SVD for 80 of 800 / 400 directions; ours projects the raw rows (the authors'
  code) with an exact eigensolver (`scipy.linalg.eigh(..., subset_by_index)` on the d x d scatter, or
  a thin SVD when n <= d), memoised on the content of the rows (the content hash is paid on every fit).
- **TCA.** skada forms `solve(I + mu K L K, K H K)`, a non-symmetric matrix, then calls
  `np.linalg.eigh` on it (which reads one triangle) over all n x n, keeping the largest |eigenvalue|s;
  ours solves the symmetric generalised problem once whitened, for the k smallest only. `mu` is
  translated so that both target the same solution (see `tca_mu`).
- **KMM.** Same QP; skada stops Frank-Wolfe at tol 1e-6 / 1000 iterations, ours solves it to KKT
  optimality (active set). The weights differ, and with them the weighted SVM that follows.
- **KLIEP.** skada's gradient step is `alpha += EPS * A.T @ (1 / (A @ alpha))` with `EPS` = machine
  epsilon (2.2e-16), so its weights barely move from the uniform start (then projected); ours follows
  Sugiyama et al.'s ascent with step sizes 1e3 .. 1e-3.
- **OT.** Both call POT (`ot.emd` / `ot.sinkhorn`) on the same max-normalised cost and map the source
  barycentrically; skada goes through `ot.da.*Transport`.
"""


def main(argv=None) -> int:
    args = parse_args(argv)
    from threadpoolctl import threadpool_limits

    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    os.environ.setdefault("TLTAX_DATA_DIR", str(ROOT.parent / "shared" / "data"))
    repeats = args.repeats or (2 if args.quick else 3)
    methods = _methods()
    if args.methods:
        methods = [m for m in methods if m.name in args.methods]
    tasks = []
    for ds in args.datasets:
        names = DATASETS[ds][2][:2] if args.quick else DATASETS[ds][2]
        tasks += load_tasks(ds, names, args.amazon_rows or None)
    cells: list[Cell] = []
    cache = load_cache(args.cache)
    t_start = time.time()
    with threadpool_limits(limits=args.threads):
        for m in methods:
            todo = [] if args.report_only else [t for t in tasks if (m.name, t.dataset, t.name) not in cache]
            cells += [cache[m.name, t.dataset, t.name] for t in tasks if (m.name, t.dataset, t.name) in cache]
            if todo:
                # one untimed warm-up of each library on the first task (imports, BLAS / POT initialisation)
                run_once(m.ours(todo[0]), todo[0], routed=False)
                if m.skada is not None:
                    run_once(m.skada(todo[0]), todo[0], routed=True)
            for task in todo:
                # ours-only methods have nothing to alternate with: one timed fit
                c = bench_cell(m, task, repeats if m.skada is not None else 1)
                cells.append(c)
                if args.cache is not None:
                    with open(args.cache, "a") as fh:
                        fh.write(json.dumps(c.__dict__) + "\n")
                print(f"{m.name:14s} {task.dataset}:{task.name:7s} ours {100 * c.acc_ours:5.1f} "
                      f"skada {_fmt(None if c.acc_skada is None else 100 * c.acc_skada):>5s} "
                      f"t {c.t_ours:.3f}s / {_fmt(c.t_skada, '{:.3f}')}s ratio {_fmt(c.ratio, '{:.2f}')}", flush=True)
    methods = [m for m in methods if any(c.method == m.name for c in cells)]
    rows = summarise(cells, methods)
    suite = geomean([r["ratio"] for r in rows if r["dataset"] == "all" and r["ratio"] is not None])
    table = summary_table(rows)
    print("\n" + table + f"\n\nsuite: geometric mean over methods of time ours/skada = {suite:.2f}")
    load = os.getloadavg()
    text = f"""# Shallow DA: tltaxonomy vs skada (accuracy and {'CPU' if args.clock == 'cpu' else 'wall'} time)

Command: `python benchmarks/perf/vs_skada.py{' --quick' if args.quick else ''}{' --clock cpu' if args.clock == 'cpu' else ''}` (clock: {'CPU time of the process' if args.clock == 'cpu' else 'wall time'}, repeats = {repeats} alternating pairs per task,
BLAS threads = {args.threads}, Amazon rows per domain = {args.amazon_rows or 'all'}). {'Written with --report-only from the cells of ' + str(args.cache.name) + ' (see below how they were measured).' if args.report_only else f'Total {time.time() - t_start:.0f} s.'}
Versions: {versions()}. Machine: {platform.machine()}, {os.cpu_count()} cores; load average at the end
{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (this run is 1.0 of it). Absolute seconds depend on what else runs on
the cores, which is why each ratio is the median of alternating pairs timed in the same process.

Data: Office-Caltech SURF (12 tasks, `l1_zscore`), Amazon reviews `amazon_msda400` (12 tasks, `zscore`,
a seeded sub-sample of rows per domain). Accuracy = on the unlabelled target rows given to `fit`
(transductive), in %. Time = `fit` + `predict` of the whole pipeline (adaptation and base classifier),
our memoisation caches emptied before each of our fits.

## Summary (per method, averaged over tasks)

{table}

**Suite: geometric mean over methods of the time ratio ours/skada = {suite:.2f}** (< 1: ours faster).

## Settings per method

""" + "\n".join(f"- **{m.name}**: {m.settings}" for m in methods) + "\n\n" + NOTES + f"""
## Per task

{cells_table(cells)}
"""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
