import json

import pytest
from click.testing import CliRunner

from edgesub import config as config_mod
from edgesub.cli import cli
from edgesub.errors import ConfigError
from edgesub.subspace.build import choose_k


def _row(k, val):
    return {
        "method": "gaussian",
        "k": k,
        "compression": 64 / k,
        "accuracy": val,
        "val_accuracy": val,
    }


def test_choose_k_takes_the_smallest_k_within_tolerance_else_the_largest():
    sweep = [_row(32, 95.0), _row(16, 94.2), _row(8, 90.0), _row(4, 93.9)]
    assert choose_k(sweep, "gaussian", 95.0, 1.0)["k"] == 16
    assert choose_k(sweep, "gaussian", 95.0, 1.2)["k"] == 4  # not monotone: smallest that passes
    miss = choose_k(sweep, "gaussian", 99.0, 1.0)
    assert miss["k"] == 32 and miss["met"] is False
    with pytest.raises(ConfigError, match="no sweep rows for method 'pca'"):
        choose_k(sweep, "pca", 95.0, 1.0)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    cfg = config_mod.apply_overrides(
        config_mod.RunConfig(),
        {"name": "r", "runs_dir": str(root), "teacher.feature_dim": 64, "teacher.epochs": 2},
    )
    (root / "r").mkdir()
    (root / "r" / "config.toml").write_text(config_mod.to_toml(cfg))
    return root / "r"


def test_compress_sweeps_methods_prints_table_and_picks_k(run_dir):
    args = ["compress", str(run_dir), "--methods", "gaussian,lda", "--auto-k", "--no-progress"]
    result = CliRunner().invoke(cli, [*args, "--tolerance", "2"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["method", "2×", "4×", "8×", "16×", "32×", "64×"]
    assert lines[2].split()[0] == "gaussian" and lines[3].split()[0] == "lda"
    summary = json.loads((run_dir / "subspace.json").read_text())
    assert {(r["method"], r["k"]) for r in summary["sweep"]} == {
        (m, k) for m in ("gaussian", "lda") for k in (32, 16, 8, 4, 2, 1)
    }
    choice = summary["auto_k"]
    assert choice["tolerance"] == 2.0 and summary["k"] == choice["k"]
    within = [
        r["k"]
        for r in summary["sweep"]
        if r["method"] == "gaussian"
        and r["val_accuracy"] >= summary["full_head_val_accuracy"] - 2.0
    ]
    assert choice["k"] == min(within)
    assert (run_dir / "plots" / "accuracy_vs_compression.png").stat().st_size > 1000


def test_compress_unknown_method_is_one_line_error(run_dir):
    result = CliRunner().invoke(cli, ["compress", str(run_dir), "--methods", "gaussian,nope"])
    assert result.exit_code != 0
    assert "unknown projection 'nope'; known: gaussian, lda, learned, pca, sparse" in result.output
    assert "Traceback" not in result.output


def test_compress_k_not_below_d_is_one_line_error(run_dir):
    result = CliRunner().invoke(cli, ["compress", str(run_dir), "--k", "64", "--no-progress"])
    assert result.exit_code != 0 and "1 <= k < d=64" in result.output
