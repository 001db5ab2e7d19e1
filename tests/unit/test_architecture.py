"""Who may import whom, checked on the source: the rules of docs/architecture.md.

Each top-level part of the package (a folder such as ``cloud``, or a root module such as
``types``) lists the parts it may import. A new import across parts that is not listed fails
here, so the layering cannot erode one convenient import at a time; changing a rule means
changing this table and the architecture page together.
"""

from __future__ import annotations

import ast
from pathlib import Path

import localvision

PACKAGE = Path(localvision.__file__).parent

CORE = {"errors", "types", "optional", "files", "sqlite_schema", "config", "annotator"}

MAY_IMPORT: dict[str, set[str]] = {
    # the core: what everything uses
    "errors": set(),
    "types": {"errors"},
    "optional": {"errors"},
    "files": set(),
    "sqlite_schema": {"errors"},
    "config": {"errors", "types"},
    "annotator": {"types"},
    "coalescing": set(),
    # the local half, bottom up
    "imaging": {"errors", "types"},
    "wire": {"errors", "types"},
    "models": {"config", "errors", "files", "optional", "types"},
    "tasks": {"errors", "imaging", "models", "optional", "types"},
    "engine": {"coalescing", "errors", "imaging", "models", "tasks", "types"},
    "registry": {"errors", "files", "sqlite_schema"},
    # models in object storage: push/pull to the registry, the serving cache, input objects
    "storage": CORE | {"registry"},
    "api": CORE | {"engine", "imaging", "models", "registry", "storage"},
    "training": CORE | {"api", "engine", "imaging", "models", "registry"},
    "metrics": CORE | {"engine", "imaging", "models", "training"},
    # around the core
    "cloud": CORE | {"imaging", "metrics", "wire"},
    "advisor": CORE
    | {"api", "cloud", "engine", "imaging", "metrics", "models", "registry", "training"},
    # the edges: nothing imports them
    "server": CORE
    | {
        "__init__",
        "api",
        "cloud",
        "console",
        "engine",
        "imaging",
        "models",
        "registry",
        "storage",
        "wire",
    },
    # the web console: pages over what the server passes it (it never imports the server)
    "console": CORE
    | {"__init__", "advisor", "api", "cloud", "imaging", "models", "registry", "wire"},
    # deployment files, and the serverless entry points that wrap the server
    "deploy": CORE | {"__init__", "api", "server", "storage"},
    # Ray: batch jobs on Ray Data and the server on Ray Serve, over the same engine and app
    "scale": CORE | {"__init__", "api", "engine", "imaging", "models", "server", "storage"},
    "cli": CORE
    | {
        "__init__",
        "advisor",
        "api",
        "cloud",
        "console",
        "deploy",
        "engine",
        "imaging",
        "metrics",
        "models",
        "registry",
        "scale",
        "server",
        "storage",
        "tasks",
        "training",
    },
    "__init__": {"api", "config", "errors", "types"},
    "__main__": {"cli"},
}


def _part(dotted: str) -> str:
    """The top-level part of ``localvision.a.b``: ``a`` (``__init__`` for the package)."""
    parts = dotted.split(".")
    if len(parts) == 1:
        return "__init__"
    first = parts[1]
    if (PACKAGE / first).is_dir() or (PACKAGE / f"{first}.py").is_file():
        return first
    return "__init__"  # a name imported from the package itself (__version__)


def imports_across_parts() -> dict[str, set[tuple[str, str]]]:
    """For each part, the (part it imports, file that does it) pairs found in the source."""
    found: dict[str, set[tuple[str, str]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        package = parts[:-1]  # what a relative import starts from, for modules and __init__
        me = _part(".".join(package if parts[-1] == "__init__" else parts))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package[: len(package) - (node.level - 1)]
                if node.module:
                    targets = [".".join([*base, node.module])]
                else:
                    targets = [".".join([*base, alias.name]) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("localvision"):
                targets = [node.module or ""]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("localvision")]
            for target in targets:
                other = _part(target)
                if other != me:
                    found.setdefault(me, set()).add((other, str(path.relative_to(PACKAGE))))
    return found


def test_every_part_has_a_rule() -> None:
    parts = {p.stem for p in PACKAGE.glob("*.py")} | {
        p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()
    }
    assert parts - {"__init__", "__main__"} <= set(MAY_IMPORT), (
        "a new part of the package needs its rule here and in docs/architecture.md"
    )


def test_imports_follow_the_layers() -> None:
    broken = sorted(
        f"{where} ({part}) imports {other}"
        for part, edges in imports_across_parts().items()
        for other, where in edges
        if other not in MAY_IMPORT.get(part, set())
    )
    assert broken == []


def test_the_scan_sees_imports() -> None:
    """The checker itself: it finds the imports it is meant to police."""
    edges = imports_across_parts()
    assert ("wire", "server/google.py") in edges["server"]
    assert any(other == "errors" for other, _ in edges["types"])
