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

Nothing here imports ray; the functions return plain dicts. eosfix has to be
installed from its wheel on every node: the switch only asks the start-up
hook the wheel installs to patch, and an ``EOSLabelCallback`` in the
training function reports a worker that stayed unpatched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eosfix.environment_variables import EOSFIX_AUTOPATCH

__all__ = ["autopatch_env", "ray_runtime_env"]


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
