"""Writes tests/data/golden_store/records/ (hand-made records in the store's format) for the golden report test.

The expected files beside it were rendered once and checked by hand (e.g. source_only A_to_W: 40 and 42 →
41.0 ± 1.0; coral A_to_W: 45, 47, 49 → 47.0 ± 1.2); regenerate them only for an intended change of the output.
"""
import json, shutil
from pathlib import Path
from tltaxonomy.store import ResultStore, config_hash

root = Path(__file__).resolve().parent  # python tests/data/golden_store/make_golden.py
shutil.rmtree(root / "records", ignore_errors=True)
store = ResultStore(root)
SURF = {"name": "office_caltech_surf", "preprocess": "l1_zscore"}
CVSVC = {"_target_": "tltaxonomy.classifiers.CVSVC", "kernel": "rbf", "gamma": "auto", "Cs": [0.001, 0.01, 0.1, 1.0, 10.0, 100.0], "cv": 2}
SO = {"_target_": "tltaxonomy.transductive.SourceOnly", "estimator": CVSVC}
CORAL = {"_target_": "tltaxonomy.transductive.CORAL", "reg": 1.0, "variant": "kernel", "estimator": None}
KMM = {"_target_": "tltaxonomy.transductive.KMM", "gamma": "auto", "B": 1000.0, "eps": None, "random_state": 0, "estimator": CVSVC}

def sa(seed):
    return {"_target_": "tltaxonomy.transductive.SubspaceAlignment", "n_components": 80, "variant": "kernel", "random_state": seed, "estimator": None}

def put(name, strategy_cfg, dataset, task, seed, metrics, selection="source_cv", protocol=20, setting="transductive"):
    # the config's `selection` is null (the strategy's own) except where a protocol was asked for
    config = {"dataset": dataset, "seed": seed, "selection": selection if selection == "target_oracle" else None,
              "strategy": strategy_cfg, "task": task}
    if protocol != "absent":
        config["protocol"] = {"source_per_class": protocol}
    record = {
        "config": config, "strategy": name, "setting": setting, "family": "golden", "dataset": dataset["name"],
        "task": task, "seed": seed, "selection": selection, "metrics": metrics,
        "timings": {"fit_s": 0.5, "total_s": 1.0}, "git_commit": "golden", "created": "2026-11-27T00:00:00+00:00",
    }
    store.put(config_hash(config), record)

put("source_only", SO, SURF, "A_to_W", 0, {"target/acc": 0.40})
put("source_only", SO, SURF, "A_to_W", 1, {"target/acc": 0.42})
put("source_only", SO, SURF, "C_to_A", 0, {"target/acc": 0.50})
put("source_only", SO, SURF, "C_to_A", 1, {"target/acc": 0.46})
put("coral", CORAL, SURF, "A_to_W", 0, {"target/acc": 0.45})
put("coral", CORAL, SURF, "A_to_W", 1, {"target/acc": 0.47})
put("coral", CORAL, SURF, "A_to_W", 2, {"target/acc": 0.49})
put("coral", CORAL, SURF, "C_to_A", 0, {"target/acc": 0.51})
put("coral", CORAL, SURF, "A_to_W", 0, {"target/acc": 0.55}, protocol=None)  # the full protocol: another row
put("sa", sa(0), SURF, "A_to_W", 0, {"target/acc": 0.44})  # random_state = seed: one row over seeds
put("sa", sa(1), SURF, "A_to_W", 1, {"target/acc": 0.46})
put("coral", CORAL, SURF, "A_to_W", 0, {"target/acc": 0.60, "source_val/acc": 0.9}, selection="target_oracle")
GS = {"name": "gaussian_shift", "preprocess": "none"}
put("kmm", KMM, GS, "covariate", 0, {"target/acc": 0.953})
put("kmm", KMM, GS, "covariate", 1, {"target/acc": 0.957})
put("kmm", KMM, GS, "label", 0, {"target/acc": 0.70})
put("kmeans", {"_target_": "tltaxonomy.unsupervised.FeatureKMeans", "random_state": 0}, GS, "covariate", 0,
    {"target/nmi": 0.3}, selection="none", protocol="absent", setting="unsupervised")  # no target/acc: counted, not shown
# a hand-edited record whose hash is not its file name: the store ignores it
bad = root / "records" / "00" / ("0" * 64 + ".json")
bad.parent.mkdir(parents=True, exist_ok=True)
bad.write_text(json.dumps({"config_hash": "not-this-file", "metrics": {"target/acc": 1.0}, "dataset": "office_caltech_surf",
                           "task": "A_to_W", "seed": 0, "strategy": "ghost", "selection": "source_cv", "config": {}}, indent=2) + "\n")
print(len(list(root.glob("records/*/*.json"))))
