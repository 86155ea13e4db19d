"""The benchmark harness: table specs (``benchmarks/``), published numbers (``papers/``), rendering."""

from .formats import FORMATS, render
from .tables import Cell, TableResult, TableSpec, list_tables, load_suite, load_table, run_table, run_tables

__all__ = ["FORMATS", "Cell", "TableResult", "TableSpec", "list_tables", "load_suite", "load_table", "render", "run_table", "run_tables"]
