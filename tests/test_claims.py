"""docs/claims.md names what backs each promise: every test and benchmark it names exists.

A renamed or deleted test would otherwise leave a claim that looks backed and is not.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from bench.__main__ import BENCHMARKS

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CLAIMS = ROOT / "docs" / "claims.md"

# `test_x.py`, `test_x.py::test_y`, and `::test_z` (another test of the file named before it)
TEST_REF = re.compile(r"`(test_\w+\.py)?(?:::(test_\w+))?`")
BENCH_REF = re.compile(r"python -m bench (\w+)")


def defined_tests(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.name for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name.startswith("test_")}


def test_every_test_that_claims_md_names_exists() -> None:
    named, missing = 0, []
    for line in CLAIMS.read_text().splitlines():
        current: str | None = None
        for match in TEST_REF.finditer(line):
            module, function = match.groups()
            current = module or current
            if current is None:
                continue
            path = ROOT / "tests" / current
            named += 1
            if not path.exists():
                missing.append(current)
            elif function and function not in defined_tests(path):
                missing.append(f"{current}::{function}")
    assert named > 100, "the pattern no longer finds the table's tests"
    assert not missing, f"docs/claims.md names tests that do not exist: {missing}"


def test_every_benchmark_the_docs_name_exists() -> None:
    named = {name for doc in DOCS for name in BENCH_REF.findall(doc.read_text())}
    assert {"e2e", "latency", "load"} <= named
    assert named <= set(BENCHMARKS), f"not benchmarks: {sorted(named - set(BENCHMARKS))}"
    for name in BENCHMARKS:
        assert (ROOT / "bench" / f"{name}.py").exists(), name
