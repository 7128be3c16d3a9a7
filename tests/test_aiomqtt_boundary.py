"""aiomqtt is imported in one module only, ``gateway/mqtt/client.py``: the simulator, the
ingest and the tests reach a broker through it, so the aiomqtt v3 migration stays local."""

from __future__ import annotations

import ast
from pathlib import Path

from test_layout import imported

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {ROOT / "gateway" / "mqtt" / "client.py"}


def test_only_the_client_module_imports_aiomqtt_or_paho() -> None:
    sources = [
        path
        for folder in ("gateway", "adapters", "simulators", "tui", "bench", "tests")
        for path in (ROOT / folder).rglob("*.py")
    ]
    assert len(sources) > 100, "the sources were not found"
    wrong = [
        f"{path.relative_to(ROOT)}:{line}: imports {name}"
        for path in sources
        if path not in ALLOWED
        for line, name in imported(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        if name.split(".")[0] in ("aiomqtt", "paho")
    ]
    assert not wrong, "\n".join(wrong)
