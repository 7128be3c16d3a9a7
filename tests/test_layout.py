"""The folder tree is the data flow: no arrow from the core to an adapter or a view.

Every module under ``gateway/`` but ``gateway/app/`` (the one place that knows every part)
is read as source — each ``import`` and ``from … import``, at the top, in a function or
under ``TYPE_CHECKING`` — and none may name ``adapters`` or ``tui``. And the ward, the
vocabulary of every view, comes without the alarm engine or the journal.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "gateway"
APP = CORE / "app"
FORBIDDEN = ("adapters", "tui")
HEAVY = ("gateway.alarms", "gateway.journal", "gateway.config", "gateway.hub", "adapters", "tui")
"""What importing the ward must not import."""


def imported(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every import in a module, relative ones left out (they stay
    inside their package)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def core_modules() -> list[Path]:
    return sorted(path for path in CORE.rglob("*.py") if APP not in path.parents)


def test_the_core_imports_no_adapter_and_no_view() -> None:
    modules = core_modules()
    assert len(modules) > 30, "the core's modules were not found"
    wrong = [
        f"{path.relative_to(ROOT)}:{line}: imports {name}"
        for path in modules
        for line, name in imported(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        if name.split(".")[0] in FORBIDDEN
    ]
    assert not wrong, "the core must not import adapters or views:\n" + "\n".join(wrong)


def test_the_ward_comes_without_the_alarm_engine_or_the_journal() -> None:
    script = (
        "import sys, gateway.ward, gateway.ward.snapshot\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith(('gateway', 'adapters',"
        " 'tui')))))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    loaded = done.stdout.split()
    assert "gateway.ward.state" in loaded
    heavy = [m for m in loaded if m.startswith(HEAVY)]
    assert not heavy, f"importing gateway.ward imported {heavy}"
