"""Settings that carry the fix to processes which do not inherit this one's environment.

``eosfix.apply()`` sets ``EOSFIX_AUTOPATCH=1`` for the children of the process
that calls it, and the ``eosfix_autopatch.pth`` start-up hook patches every
Python process that starts with it. Processes started by something else do
not inherit it: the workers of a Ray cluster started with ``ray start`` (Ray
tasks, actors, Ray Train workers), the ranks DeepSpeed's multi-node launcher
starts over ssh, and SLURM steps run with ``--export=NONE``. For those, hand
the switch to the engine that starts them::

    ray.init(address="auto", runtime_env=eosfix.ray_runtime_env())
    ray.init(address="auto", runtime_env=eosfix.ray_runtime_env({"pip": ["datasets"]}))

    os.environ.update(eosfix.autopatch_env())   # or: export EOSFIX_AUTOPATCH=1

    eosfix.cluster.write_deepspeed_env()   # adds EOSFIX_AUTOPATCH=1 to ./.deepspeed_env
    eosfix.cluster.slurm_export()          # "ALL,EOSFIX_AUTOPATCH=1", for srun --export=...

Nothing here imports ray; the functions return plain dicts. eosfix has to be
installed from its wheel on every node: the switch only asks the start-up
hook the wheel installs to patch, and an ``EOSLabelCallback`` in the
training function reports a worker that stayed unpatched.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eosfix.environment_variables import EOSFIX_AUTOPATCH, TRUE_VALUES

__all__ = ["autopatch_env", "ray_runtime_env", "slurm_export", "write_deepspeed_env"]

# What DeepSpeed's launcher (deepspeed/launcher/runner.py, 0.19.8) accepts in a .deepspeed_env line: it splits
# each line at its first "=" and exports `KEY=VALUE;` on every node's shell command line, so the key must be a
# shell variable name. A line with no "=" (a blank line, most comments) makes the launcher exit with
# "ValueError: not enough values to unpack"; a "# KEY=VALUE" comment would comment out the rest of the command.
_DEEPSPEED_ENV_LINE = re.compile(r"\s*[A-Za-z_][A-Za-z0-9_]*\s*=")


def autopatch_env() -> dict[str, str]:
    """The environment variables that make a new Python process patch itself at start.

    Give them to a launcher that starts processes with an environment of its
    own: a ``.deepspeed_env`` file, ``srun --export``, a job spec.
    """
    return {EOSFIX_AUTOPATCH: "1"}


def ray_runtime_env(runtime_env: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``runtime_env`` (or an empty one) with eosfix's switch added to its ``env_vars``.

    Pass the result to ``ray.init(runtime_env=...)`` for the whole job (Ray
    tasks and actors inherit a job's runtime environment, Ray Train's workers
    too), or to ``.options(runtime_env=...)`` / ``@ray.remote(runtime_env=...)``
    for one task or actor. Ray starts each worker process with these
    variables set, so the start-up hook patches it before any user code runs.

    The argument is not changed: the result is a new dict with the other
    fields as given and ``env_vars`` merged. A value the caller set for
    ``EOSFIX_AUTOPATCH`` is kept, and ``EOSFIX_DISABLE`` still wins in the
    worker. A ``ray.runtime_env.RuntimeEnv`` works as the argument (it is a
    dict); the result is a plain dict, which Ray accepts everywhere.
    """
    merged = dict(runtime_env or {})
    given = merged.get("env_vars") or {}
    if not isinstance(given, Mapping):
        raise TypeError(f"eosfix.ray_runtime_env: env_vars must be a mapping, not {type(given).__name__}")
    merged["env_vars"] = {**autopatch_env(), **given}
    return merged


def slurm_export() -> str:
    """The value for ``srun --export=`` that forwards the whole environment plus eosfix's switch.

    ``ALL,EOSFIX_AUTOPATCH=1``: it works from a shell without the switch and for a step inside an
    ``sbatch --export=NONE`` job. ``NONE,EOSFIX_AUTOPATCH=1`` does not: SLURM 22.05 drops the switch silently.
    """
    return ",".join(["ALL", *(f"{key}={value}" for key, value in autopatch_env().items())])


def write_deepspeed_env(path: str | os.PathLike[str] = ".deepspeed_env") -> Path:
    """Add ``EOSFIX_AUTOPATCH=1`` to the ``.deepspeed_env`` file at ``path``, creating it if needed.

    DeepSpeed's multi-node launcher exports every line of that file (in the launch directory or ``$HOME``, or
    the name ``DS_ENV_FILE`` gives) on every node, rank 0 included. The file's other lines are kept as they are;
    no comment or blank line is written, and the last line ends with a newline. An ``EOSFIX_AUTOPATCH`` line that
    already switches eosfix on is left alone (a second call changes nothing); one that does not is set to ``1``.
    A symbolic link is followed: the file it points to is rewritten.

    Args:
        path: the file to update; the default is ``.deepspeed_env`` in the current directory.

    Raises:
        ValueError: a line of the existing file is not ``KEY=VALUE`` (the launcher would fail on it); the file
            is left unchanged.

    Returns:
        The path written.
    """
    target = Path(path)
    lines: list[str] = []
    if target.exists():
        # Text mode splits lines the way the launcher's readlines() does (\n, \r\n and \r).
        with open(target, encoding="utf-8") as handle:
            lines = [line.rstrip("\n") for line in handle]
    for number, line in enumerate(lines, 1):
        if not _DEEPSPEED_ENV_LINE.match(line):
            raise ValueError(
                f"{target}:{number}: {line!r} is not a KEY=VALUE line, and DeepSpeed's launcher fails on it; "
                "remove that line and run again"
            )
    wanted = [f"{key}={value}" for key, value in autopatch_env().items()]
    new_lines = list(lines)
    for entry in wanted:
        key = entry.split("=", 1)[0]
        found = [i for i, line in enumerate(new_lines) if line.split("=", 1)[0].strip() == key]
        if not found:
            new_lines.append(entry)
        for i in found:
            if new_lines[i].split("=", 1)[1].strip().lower() not in TRUE_VALUES:
                new_lines[i] = entry
    if new_lines == lines and (not lines or target.read_text(encoding="utf-8").endswith("\n")):
        return target
    _replace(target.resolve() if target.is_symlink() else target, "".join(f"{line}\n" for line in new_lines))
    return target


def _replace(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` through a temporary file in its folder: never a half-written file."""
    mode = target.stat().st_mode & 0o777 if target.exists() else None
    handle, temporary = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        os.unlink(temporary)
        raise
