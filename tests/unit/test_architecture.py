"""The layers are checked by a tool, and the tool would catch a forbidden import."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tree, env={"PYTHONPATH": str(tree), "PATH": ""},
                          capture_output=True, text=True, timeout=120, check=False)


def copy_of_the_tree(destination: Path) -> Path:
    for name in ("toex_stream", "streams"):
        shutil.copytree(ROOT / name, destination / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", destination / "pyproject.toml")
    return destination


def test_the_import_contracts_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-3000:]


def test_the_layers_catch_the_domain_importing_an_adapter(tmp_path: Path) -> None:
    tree = copy_of_the_tree(tmp_path)
    state = tree / "toex_stream" / "domain" / "scoring" / "state.py"
    state.write_text(state.read_text() + "\nfrom toex_stream.adapters.sql import store\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "only those below it BROKEN" in result.stdout
    assert "toex_stream.domain.scoring.state -> toex_stream.adapters.sql.store" in result.stdout


def test_the_contract_catches_the_domain_importing_a_framework(tmp_path: Path) -> None:
    tree = copy_of_the_tree(tmp_path)
    pipeline = tree / "toex_stream" / "domain" / "pipeline.py"
    pipeline.write_text(pipeline.read_text() + "\nimport sqlalchemy\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "The domain imports no adapter, framework or settings BROKEN" in result.stdout
    assert "toex_stream.domain.pipeline -> sqlalchemy" in result.stdout


def test_the_contract_catches_a_cycle_between_command_groups(tmp_path: Path) -> None:
    tree = copy_of_the_tree(tmp_path)
    intake_cli = tree / "toex_stream" / "entry" / "intake_cli.py"
    intake_cli.write_text(intake_cli.read_text() + "\nfrom toex_stream.entry.cli import main\n")
    result = lint_imports(tree)
    assert "No import cycles between sibling modules or packages BROKEN" in result.stdout
