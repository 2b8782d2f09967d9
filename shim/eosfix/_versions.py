"""Release numbers: the one parser of version strings, and the installed version of a distribution.

Only the standard library, and no ``packaging``: the patcher reads a target's range when transformers' collator
module is imported, inside the user's import, where ``packaging.specifiers`` would cost several milliseconds.
"""

from __future__ import annotations

import re

_RELEASE = re.compile(r"\d+(?:\.\d+)*")


def release(version: str) -> tuple[int, ...]:
    """The leading numeric release of a version string: ``"5.23.0.dev0"`` -> ``(5, 23, 0)``; ``()`` for none."""
    match = _RELEASE.match(version.strip().lstrip("vV"))
    return tuple(int(part) for part in match.group().split(".")) if match else ()


def in_range(version: str | None, specifier: str) -> bool:
    """Whether ``version`` lies inside ``specifier``, written ``">=A,<B"`` (the form every target uses)."""
    if not version:
        return False
    lower, upper = (clause.strip() for clause in specifier.split(","))
    if not (lower.startswith(">=") and upper.startswith("<")):
        raise ValueError(f"a target's SUPPORTED must read '>=A,<B', not {specifier!r}")
    return release(lower[2:]) <= release(version) < release(upper[1:])


def installed(distribution: str) -> str | None:
    """The installed version of ``distribution``, read from its metadata without importing it; None when absent."""
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None
