"""The workers' tiers: transport and rate limits at the bottom, then the outbox, the send path, the
jobs, and the clock and worker on top; no module imports a higher tier, nor imports in a circle.
And each process's settings stay its own: building a second app changes nothing for the first.
"""

from __future__ import annotations

import ast
import importlib
from datetime import UTC, datetime
from pathlib import Path

from redis import Redis
from rq import Queue

from content.load import load_content
from gateway import create_app
from store.db import session_scope
from store.models import Person
from workers import runtime

WORKERS = Path(__file__).resolve().parent.parent / "workers"

TIERS = {
    "workers.runtime": 0,
    "workers.transport": 0,
    "workers.ratelimit": 0,
    "workers.outbox": 1,
    "workers.send": 2,
    "workers.mentoring": 3,
    "workers.callbacks": 3,
    "workers.opportunities": 3,
    "workers.weekly": 3,
    "workers.corrections": 3,
    "workers.schedule": 3,
    "workers.jobs": 3,
    "workers.broadcasts": 3,
    "workers.pricing": 3,
    "workers.costs": 3,
    "workers.impact": 3,
    "workers.budget": 3,
    "workers.clock": 4,
    "workers.worker": 4,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(WORKERS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def tier(module: str) -> int:
    if module == "workers":
        return 0
    top = ".".join(module.split(".")[:2])
    return TIERS[top]


def workers_imports(node: ast.AST) -> list[tuple[str, ast.stmt]]:
    """The workers modules a piece of code imports (`from workers import x` names module x)."""
    found = []
    for child in ast.walk(node):
        if isinstance(child, ast.Import):
            found += [(alias.name, child) for alias in child.names if alias.name.startswith("workers")]
        elif isinstance(child, ast.ImportFrom) and (child.module or "").startswith("workers"):
            if child.module == "workers":
                found += [(f"workers.{alias.name}", child) for alias in child.names]
            else:
                found.append((child.module, child))
    return found


def import_graph() -> tuple[dict[str, set[str]], list[str]]:
    graph: dict[str, set[str]] = {}
    deferred: list[str] = []
    for path in sorted(WORKERS.rglob("*.py")):
        name = module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[name] = {target for target, _ in workers_imports(tree)} - {name}
        for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)):
            deferred += [
                f"{name}.{function.name} imports {target}" for target, _ in workers_imports(function)
            ]
    return graph, deferred


def test_every_workers_module_imports_on_its_own():
    graph, _ = import_graph()
    for name in graph:
        importlib.import_module(name)
    assert set(TIERS) <= set(graph), "a tier names a module that is gone"


def test_no_import_is_deferred_into_a_function():
    _, deferred = import_graph()
    assert deferred == []


def test_no_module_imports_a_higher_tier():
    graph, _ = import_graph()
    upward = [
        f"{name} (tier {tier(name)}) imports {target} (tier {tier(target)})"
        for name, targets in graph.items()
        for target in targets
        if name != "workers" and target in graph and tier(target) > tier(name)
    ]
    assert upward == []


def test_there_is_no_import_cycle():
    graph, _ = import_graph()
    state: dict[str, int] = {}  # 1 on the path being walked, 2 done
    cycles: list[list[str]] = []

    def walk(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph.get(name, ())):
            # A package's own __init__ is loaded before its modules: `workers.x` importing
            # `workers.x.y` only names a submodule.
            if target.startswith(name + "."):
                continue
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target] if target in path else [name, target])
            elif state.get(target) is None and target in graph:
                walk(target, [*path, target])
        state[name] = 2

    for name in sorted(graph):
        if state.get(name) is None:
            walk(name, [name])
    assert cycles == []


def test_a_second_app_with_other_settings_leaves_the_first_alone(app_settings):
    """Each app keeps its settings: the first still enqueues into its own Redis."""
    first = create_app(app_settings)
    create_app(app_settings.with_(redis_url="redis://127.0.0.1:1/0"))
    at = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    with session_scope(app_settings.database_url) as session:
        session.add(
            Person(phone="+2348031234111", name="Ada", track="usmle1", daily_time="09:00", next_push_at=at)
        )
    with session_scope(app_settings.database_url) as session:
        load_content(session, None, at.date())
    result = first.test_cli_runner().invoke(args=["tick", "--at", at.isoformat()])
    assert result.exit_code == 0, result.output
    assert "1 question(s)" in result.output
    assert Queue(runtime.BULK, connection=Redis.from_url(app_settings.redis_url)).count == 1
