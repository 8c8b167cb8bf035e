"""The shape the project keeps (ARCHITECTURE.md): short functions, one error family,
no reaching into another module's private names, core/ free of Dagster and the service."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "eudr_pipeline"
MAX_FUNCTION_LINES = 80
KERNEL_MARK = "numeric kernel"  # a longer function's docstring must say why it is one piece


def modules() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(), str(p))) for p in sorted(PACKAGE.rglob("*.py"))]


def test_no_function_longer_than_80_lines_unless_a_numeric_kernel():
    long = []
    for path, tree in modules():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES and KERNEL_MARK not in (ast.get_docstring(node) or ""):
                    long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long


def test_no_module_imports_another_modules_private_names():
    found = []
    for path, tree in modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("eudr_pipeline"):
                found += [f"{path.relative_to(PACKAGE)}: {node.module}.{a.name}" for a in node.names
                          if a.name.startswith("_") and not a.name.endswith("__")]
    assert not found, found


def test_every_exception_class_is_in_the_family():
    """Exceptions are defined in errors.py only (the client's HTTP error aside)."""
    outside = []
    for path, tree in modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(
                    getattr(b, "id", getattr(b, "attr", "")).endswith(("Error", "Exception")) for b in node.bases):
                if path.name != "errors.py" and node.name != "ApiResponseError":
                    outside.append(f"{path.relative_to(PACKAGE)}: {node.name}")
    assert not outside, outside


def test_core_imports_neither_dagster_nor_the_service():
    for path, tree in modules():
        if path.parent.name != "core":
            continue
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for n in names:
                assert not n.startswith(("dagster", "eudr_pipeline.service", "eudr_pipeline.defs",
                                         "eudr_pipeline.layers", "fastapi")), f"{path.name} imports {n}"
