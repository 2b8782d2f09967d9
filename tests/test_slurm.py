"""The README's SLURM steps on a real one-node SLURM cluster (slurmctld, slurmd, munge), each both ways.

One cluster per session (``cluster_engines.slurm_cluster``): munged, slurmctld
and slurmd started by the test on loopback and private ports, stopped by
their process ids at the end. Every case runs ``cluster_probe.py`` as 2 tasks
and counts the EOS labels the ranks kept: 4 of 4 when the switch reached
them, 0 of 4 when it did not. ``srun``/``sbatch`` run from a shell without
eosfix's switch unless the case puts it there, and the interpreter is named
by absolute path (``--export=NONE`` drops PATH).

Also DeepSpeed's ``--launcher=slurm``, which runs ``srun --export=ALL,...``. These tests run in the
``cluster-tf523`` tox env (the one with deepspeed) and skip elsewhere with that reason.
"""

import os
import re
import subprocess
import sys
import time

import cluster_engines
import pytest
from cluster_engines import PROBE, kept, launch_env, reports
from helpers import require_wheel

import eosfix.cluster

require_wheel()
cluster_engines.require_cluster_env()

PYTHON = sys.executable
SWITCH = {"EOSFIX_AUTOPATCH": "1"}


@pytest.fixture(scope="module")
def slurm(request):
    """The environment that points SLURM's commands at the test cluster."""
    cluster_engines.ensure_packages(request.config)
    with cluster_engines.slurm_cluster() as env:
        yield env


def _run(argv, slurm, out, shell_switch, cwd=None):
    env = launch_env(**slurm, **(SWITCH if shell_switch else {}))
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{argv} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    if argv[0] == "sbatch":
        _wait_for_job(proc.stdout.strip().split(";")[0], env)
    found = reports(out)
    assert [r["rank"] for r in found] == [0, 1], (found, proc.stderr[-3000:])
    return found


def _wait_for_job(job_id, env):
    """Until the job has ended; ``sbatch --wait`` polls only every 10 s, which adds up over many jobs."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        proc = subprocess.run(["scontrol", "show", "job", job_id], env=env, capture_output=True, text=True)
        state = re.search(r"JobState=(\w+)", proc.stdout)
        if state and state.group(1) not in ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING"):
            assert state.group(1) == "COMPLETED", proc.stdout
            return
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not end within 300 s")


@pytest.mark.parametrize(
    ("export", "shell_switch", "patched"),
    [
        # The default is --export=ALL: the switch in the submitting shell reaches the ranks...
        (None, True, True),
        # ...and without it there nothing does.
        (None, False, False),
        ("NONE", True, False),
        # The README's step, from a shell without the switch; without the named switch, ALL alone does nothing.
        ("ALL,EOSFIX_AUTOPATCH=1", False, True),
        ("ALL", False, False),
        (eosfix.cluster.slurm_export(), False, True),
        # Only the named variables (and SLURM_*): still patched.
        ("EOSFIX_AUTOPATCH=1", False, True),
        # NONE with a variable after it: SLURM 22.05 drops the variable without a word.
        ("NONE,EOSFIX_AUTOPATCH=1", False, False),
    ],
)
def test_srun_export(slurm, tmp_path, export, shell_switch, patched):
    option = [] if export is None else [f"--export={export}"]
    found = _run(["srun", "-n", "2", *option, PYTHON, str(PROBE), str(tmp_path)], slurm, tmp_path, shell_switch)
    assert all(r["patched"] is patched for r in found), found
    assert kept(found) == ((4, 4) if patched else (0, 4))


# Job scripts for `sbatch --export=NONE`, submitted from a shell that has the switch: the job never gets it.
BATCH_STEPS = {
    "plain srun": ("srun -n 2 {step}", False),
    "export, then plain srun": ("export EOSFIX_AUTOPATCH=1\nsrun -n 2 {step}", False),
    "the step's --export": ("srun -n 2 --export=ALL,EOSFIX_AUTOPATCH=1 {step}", True),
    "SLURM_EXPORT_ENV=ALL alone": ("export SLURM_EXPORT_ENV=ALL\nsrun -n 2 {step}", False),
    "SLURM_EXPORT_ENV=ALL and the switch": ("export SLURM_EXPORT_ENV=ALL EOSFIX_AUTOPATCH=1\nsrun -n 2 {step}", True),
}


@pytest.mark.parametrize("case", BATCH_STEPS)
def test_sbatch_export_none(slurm, tmp_path, case):
    script, patched = BATCH_STEPS[case]
    out = tmp_path / "out"
    out.mkdir()
    job = tmp_path / "job.sh"
    job.write_text("#!/bin/bash\nset -e\n" + script.format(step=f"{PYTHON} {PROBE} {out}") + "\n")
    argv = ["sbatch", "--parsable", "--export=NONE", "-n", "2", f"--output={tmp_path}/job.log", str(job)]
    found = _run(argv, slurm, out, shell_switch=True)
    assert all(r["patched"] is patched for r in found), (found, (tmp_path / "job.log").read_text()[-2000:])
    assert kept(found) == ((4, 4) if patched else (0, 4))


@pytest.mark.parametrize("shell_switch", [True, False])
def test_sbatch_default_forwards_the_submitting_shell(slurm, tmp_path, shell_switch):
    out = tmp_path / "out"
    out.mkdir()
    job = tmp_path / "job.sh"
    job.write_text(f"#!/bin/bash\nset -e\nsrun -n 2 {PYTHON} {PROBE} {out}\n")
    argv = ["sbatch", "--parsable", "-n", "2", f"--output={tmp_path}/job.log", str(job)]
    found = _run(argv, slurm, out, shell_switch)
    assert kept(found) == ((4, 4) if shell_switch else (0, 4))


@pytest.mark.parametrize("shell_switch", [True, False])
def test_deepspeed_slurm_launcher_forwards_the_shell(slurm, tmp_path, shell_switch):
    """``deepspeed --launcher=slurm`` runs ``srun --export=ALL,...``: the shell's switch reaches the ranks."""
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "hostfile").write_text("node1 slots=1\nnode2 slots=1\n")
    deepspeed = os.path.join(os.path.dirname(PYTHON), "deepspeed")
    # --no_ssh_check: srun, not ssh, reaches the nodes; the host names only count slots.
    argv = [deepspeed, "--hostfile=hostfile", "--launcher=slurm", "--no_ssh_check", "--master_addr=127.0.0.1"]
    found = _run([*argv, str(PROBE), str(out)], {**slurm, "HOME": str(tmp_path)}, out, shell_switch, cwd=tmp_path)
    assert kept(found) == ((4, 4) if shell_switch else (0, 4))
