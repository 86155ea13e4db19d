"""A Hydra launcher that runs each job of a sweep as a Ray task (``hydra/launcher=ray``).

Written for tltaxonomy because hydra-ray-launcher brings ``ray[default]``, boto3 and a ``cloudpickle<3``
pin (about fifty packages, and it downgrades joblib and cloudpickle); this one needs only ``ray``.
Do not install both: they register the same ``hydra/launcher=ray`` config.
"""
