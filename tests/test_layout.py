"""The package's seams: modules reach each other through public names, and none imports the package back."""

import ast
import importlib
from pathlib import Path

import eosfix


def _package_sources():
    return sorted(Path(eosfix.__file__).parent.rglob("*.py"))


def _is_module(name):
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def test_no_module_imports_a_private_name_of_another():
    offenders = []
    for path in _package_sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("eosfix"):
                for alias in node.names:
                    private = alias.name.startswith("_") and not alias.name.startswith("__")
                    if private and not _is_module(f"{node.module}.{alias.name}"):
                        offenders.append(f"{path.name}: from {node.module} import {alias.name}")
            # Reading a private variable through a module: `_api._wanted`.
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if node.value.id.startswith("_") and node.attr.startswith("_") and not node.attr.startswith("__"):
                    offenders.append(f"{path.name}: {node.value.id}.{node.attr}")
    assert offenders == []


def test_no_module_imports_the_package_back():
    # `import eosfix` inside a submodule goes through the package's lazy __getattr__: a cycle.
    root = Path(eosfix.__file__).parent
    offenders = set()
    for path in _package_sources():
        if path.name == "__init__.py" or path.parent.name == "targets":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import) and any(alias.name == "eosfix" for alias in node.names):
                offenders.add(path.relative_to(root).as_posix())
    # The switch itself, and the diagnostics that run stock and fixed side by side through eosfix's public API.
    allowed = {
        "autopatch.py",
        "diagnostics/demo/training.py",
        "diagnostics/doctor/command.py",
        "diagnostics/doctor/chat_template.py",
    }
    assert offenders <= allowed, offenders
