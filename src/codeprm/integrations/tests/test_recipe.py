"""docs/recipes/verl_psgpo.md at toy size: its script runs every codeprm command of the recipe on the tiny
policy and checks the recipe's verl command line against verl's own config and loaders."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]


@pytest.mark.slow
def test_verl_psgpo_recipe_at_toy_size(tmp_path):
    pytest.importorskip("verl", reason="the 'verl' extra is not installed")
    from codeprm.policy.tiny import is_trained

    if not is_trained():
        pytest.skip("the tiny policy is not cached: `codeprm sft` makes it")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run(["bash", str(ROOT / "docs/recipes/verl_psgpo_toy.sh"), str(tmp_path)], capture_output=True, text=True,
                         env=env, timeout=1800)
    assert out.returncode == 0, (out.stdout[-2000:], out.stderr[-3000:])
    assert "recipe config resolved by verl; 4 training rows" in out.stdout
    assert (tmp_path / "runs/critic/config.json").is_file() and (tmp_path / "runs/verl_data/test.parquet").is_file()
