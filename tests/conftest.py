"""Shared fixtures: tests run with one torch/BLAS thread so timings and results are stable."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
