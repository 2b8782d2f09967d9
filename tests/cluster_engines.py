"""Real cluster engines on this machine, loopback only: a one-node SLURM cluster and an sshd for pdsh.

``tests/test_slurm.py`` and ``tests/test_deepspeed.py`` use these. Each engine is
a context manager that starts its daemons in the foreground as children of the
test process, on private ports and with every file (keys, configs, state, logs,
sockets) in a temporary directory of its own, and stops each daemon by its
process id when the ``with`` block ends, whatever happened inside it. Nothing
is started through systemd or the Debian init scripts, and the machine's own
configuration files (``/etc/slurm``, ``/etc/munge``, ``/etc/ssh``) are not read.

The Debian packages are installed with apt-get when missing (CI runs as root on
a fresh machine); where that is impossible (not root), the tests skip with the
reason, and ``TESTS_REQUIRE_CLUSTER_ENGINES=1`` (tox env ``cluster-tf523``)
turns that skip into an error.

``PROBE`` is the script every rank runs: a collator with pad == eos and no
eosfix import, writing how many EOS labels it kept to a JSON file per rank.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).resolve().parent
PROBE = TESTS / "scripts" / "cluster_probe.py"
REQUIRE = "TESTS_REQUIRE_CLUSTER_ENGINES"

# Program -> the Debian package (bookworm) that ships it.
PROGRAMS = {
    "munged": "munge",
    "slurmctld": "slurm-wlm",
    "slurmd": "slurm-wlm",
    "srun": "slurm-wlm",
    "sbatch": "slurm-wlm",
    "sshd": "openssh-server",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "pdsh": "pdsh",
}
SBIN = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")
_install_log: list[str] = []


def which(program: str) -> str | None:
    """The absolute path of ``program``, also looking in the sbin folders a non-login PATH may lack."""
    found = shutil.which(program)
    if found:
        return found
    for folder in SBIN:
        candidate = os.path.join(folder, program)
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def ensure_packages(config) -> None:
    """Install the Debian packages of every engine with apt-get, once per session, if any program is missing.

    Says so on the terminal (``config`` is pytest's). Skips the calling test (an error under
    ``TESTS_REQUIRE_CLUSTER_ENGINES``) when that is impossible: not root, or no apt-get.
    """
    import pytest

    missing = sorted({package for program, package in PROGRAMS.items() if which(program) is None})
    if not missing:
        return
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
    reason = None
    if os.geteuid() != 0:
        reason = f"{', '.join(missing)} not installed, and installing them needs root: {' '.join(command)}"
    elif shutil.which("apt-get") is None:
        reason = f"{', '.join(missing)} not installed, and there is no apt-get here to install them"
    if reason is None and not _install_log:
        # Said on the terminal, past pytest's capture: a test run that changes the machine says so.
        with config.pluginmanager.getplugin("capturemanager").global_and_fixture_disabled():
            print(f"\ncluster engines: installing {' '.join(missing)} (apt-get update && {' '.join(command)})")
        _install_log.append(_apt(missing))
        missing = sorted({package for program, package in PROGRAMS.items() if which(program) is None})
        if missing:
            reason = f"apt-get did not install {', '.join(missing)}:\n{_install_log[-1][-3000:]}"
    if reason is None:
        return
    if os.environ.get(REQUIRE):
        raise RuntimeError(f"{REQUIRE} is set but the cluster engines are unavailable: {reason}")
    pytest.skip(reason)


def _apt(packages: list[str]) -> str:
    """apt-get update and install, with no prompt and no service started; returns the output."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "NEEDRESTART_MODE": "a"}
    # Debian's maintainer scripts start a package's service unless policy-rc.d says no (exit 101); the tests
    # start their own daemons, so none may be left running by the install.
    policy = Path("/usr/sbin/policy-rc.d")
    made_policy = not policy.exists()
    if made_policy:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        output = []
        for command in (
            ["apt-get", "update", "-q"],
            [
                "apt-get",
                "install",
                "-y",
                "-q",
                "--no-install-recommends",
                "-o",
                "Dpkg::Options::=--force-confdef",
                "-o",
                "Dpkg::Options::=--force-confold",
                *packages,
            ],
        ):
            proc = subprocess.run(command, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
            output.append(f"$ {' '.join(command)} (exit {proc.returncode})\n{proc.stdout[-4000:]}{proc.stderr}")
        return "\n".join(output)
    finally:
        if made_policy:
            policy.unlink()


# Variables of the machine the tests run on that would change what a launch does: the test runs inside a SLURM job
# or an ssh session (CI may), or a user's DeepSpeed settings.
LAUNCH_PREFIXES = ("SLURM_", "SBATCH_", "SRUN_", "SALLOC_", "EOSFIX_")
LAUNCH_NAMES = ("SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY", "DS_ENV_FILE", "PDSH_RCMD_TYPE", "PDSH_SSH_ARGS")


def launch_env(**extra: str) -> dict[str, str]:
    """``os.environ`` without eosfix's switches and any SLURM, ssh or DeepSpeed setting, plus ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(LAUNCH_PREFIXES) and key not in LAUNCH_NAMES
    }
    env.update(extra)
    return env


def require_cluster_env():
    """Import deepspeed, or skip the calling module (an error under ``TESTS_REQUIRE_CLUSTER_ENGINES``).

    deepspeed is installed only in the ``cluster-tf523`` tox env, and it marks the env where the engine tests
    run: elsewhere they would install Debian packages and start daemons in every full env of the matrix.
    """
    import pytest

    if os.environ.get(REQUIRE):
        import deepspeed

        return deepspeed
    return pytest.importorskip(
        "deepspeed", reason="the SLURM and DeepSpeed tests run in the cluster-tf523 tox env, the one with deepspeed"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def daemon(argv: list[str], log: Path, ready, what: str, env: dict[str, str] | None = None) -> Iterator[int]:
    """Run ``argv`` in the foreground (own session, output to ``log``) until ``ready()``; stop it by pid after."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not ready():
            if proc.poll() is not None or time.monotonic() > deadline:
                state = "exited" if proc.returncode is not None else "timed out"
                raise RuntimeError(f"{what} {state} before it was ready:\n{_tail(log)}")
            time.sleep(0.2)
        yield proc.pid
    finally:
        stop(proc)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after 10 s, to the process ``proc`` started, by its pid."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError as exc:
        return f"({path}: {exc})"


# --- SLURM ------------------------------------------------------------------------------------------------------

SLURM_CONF = """\
ClusterName=eosfix
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge.socket
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
SlurmdTimeout=300
InactiveLimit=0
KillWait=5
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


@contextlib.contextmanager
def slurm_cluster() -> Iterator[dict[str, str]]:
    """munged, slurmctld and slurmd for one node (``localhost``, 2 CPUs); yields the variables clients need.

    The yielded ``{"SLURM_CONF": ...}`` points ``srun``/``sbatch``/``sinfo`` at this cluster; the daemons read
    the same file. Everything lives in one temporary directory, removed afterwards.
    """
    root = Path(tempfile.mkdtemp(prefix="eosfix-slurm-", dir="/tmp"))
    try:
        (root / "state").mkdir()
        (root / "spool").mkdir()
        key = root / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        conf = root / "slurm.conf"
        conf.write_text(SLURM_CONF.format(root=root, ctld_port=free_port(), slurmd_port=free_port()))
        env = launch_env(SLURM_CONF=str(conf))
        socket_path = root / "munge.socket"
        munged = [
            which("munged"),
            "--foreground",
            "--force",
            f"--key-file={key}",
            f"--socket={socket_path}",
            f"--pid-file={root}/munged.pid",
            f"--log-file={root}/munged.log",
            f"--seed-file={root}/munged.seed",
        ]
        with contextlib.ExitStack() as stack:
            stack.enter_context(daemon(munged, root / "munged.out", socket_path.exists, "munged"))
            stack.enter_context(
                daemon(
                    [which("slurmctld"), "-D", "-f", str(conf)], root / "slurmctld.out", _ping(env), "slurmctld", env
                )
            )
            stack.enter_context(
                daemon(
                    [which("slurmd"), "-D", "-N", "localhost", "-f", str(conf)],
                    root / "slurmd.out",
                    _node_idle(env),
                    "slurmd",
                    env,
                )
            )
            try:
                yield {"SLURM_CONF": str(conf)}
            finally:
                _cancel_jobs(env)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _cancel_jobs(env, wait: float = 30) -> None:
    """Cancel what a failed test left queued or running, and give its steps time to end before slurmd stops."""
    subprocess.run([which("scancel"), "--user=root"], env=env, capture_output=True)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        queue = subprocess.run([which("squeue"), "-h", "-o", "%i"], env=env, capture_output=True, text=True)
        if queue.returncode != 0 or not queue.stdout.strip():
            return
        time.sleep(0.5)


def _ping(env):
    return lambda: subprocess.run([which("scontrol"), "ping"], env=env, capture_output=True, text=True).returncode == 0


def _node_idle(env):
    def idle() -> bool:
        proc = subprocess.run([which("sinfo"), "-h", "-o", "%T"], env=env, capture_output=True, text=True)
        return proc.stdout.strip() == "idle"

    return idle


# --- sshd and the ssh client pdsh runs ----------------------------------------------------------------------------

HOSTS = {"node1": "127.0.0.1", "node2": "127.0.0.2"}


@contextlib.contextmanager
def sshd_for_pdsh() -> Iterator[dict[str, str]]:
    """An sshd on 127.0.0.1 and 127.0.0.2 (a private port, its own host key, a root key) for ``node1``/``node2``.

    Yields the variables a launcher needs: a ``PATH`` whose first ``ssh`` runs the real one with this
    session's client config (host names, port, key), the stand-in for a user's ``~/.ssh/config``; pdsh
    and DeepSpeed's runner both call ``ssh`` by name.
    """
    root = Path(tempfile.mkdtemp(prefix="eosfix-sshd-", dir="/tmp"))
    made_privsep = not os.path.isdir("/run/sshd")
    try:
        if made_privsep:
            os.makedirs("/run/sshd", mode=0o755)
        keygen = which("ssh-keygen")
        for name in ("host_key", "root_key"):
            subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(root / name)], check=True)
        shutil.copy(root / "root_key.pub", root / "authorized_keys")
        port = free_port()
        (root / "sshd_config").write_text(
            f"Port {port}\n"
            + "".join(f"ListenAddress {address}\n" for address in HOSTS.values())
            + f"HostKey {root}/host_key\n"
            f"PidFile {root}/sshd.pid\n"
            f"AuthorizedKeysFile {root}/authorized_keys\n"
            "PermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "UsePAM no\n"
            "StrictModes no\n"
            "PermitUserEnvironment no\n"
        )
        (root / "ssh_config").write_text(
            "".join(f"Host {name}\n    HostName {address}\n" for name, address in HOSTS.items())
            + f"Host *\n    Port {port}\n    User root\n    IdentityFile {root}/root_key\n    IdentitiesOnly yes\n"
            "    StrictHostKeyChecking no\n    UserKnownHostsFile /dev/null\n    LogLevel ERROR\n"
            "    BatchMode yes\n"
        )
        bin_dir = root / "bin"
        bin_dir.mkdir()
        wrapper = bin_dir / "ssh"
        wrapper.write_text(f'#!/bin/sh\nexec {which("ssh")} -F {root}/ssh_config "$@"\n')
        wrapper.chmod(0o755)
        env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}

        def answers() -> bool:
            argv = [str(wrapper), "-o", "ConnectTimeout=5", "node2", "true"]
            return subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL).returncode == 0

        sshd = [which("sshd"), "-D", "-e", "-f", str(root / "sshd_config")]
        with daemon(sshd, root / "sshd.log", answers, "sshd"):
            yield env
    finally:
        if made_privsep:
            shutil.rmtree("/run/sshd", ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)


# --- the probe's reports ----------------------------------------------------------------------------------------


def reports(out: Path) -> list[dict]:
    """The JSON report of every rank that ran ``PROBE`` with ``out`` as its folder, by rank."""
    found = [json.loads(path.read_text()) for path in sorted(out.glob("rank-*.json"))]
    return sorted(found, key=lambda report: (report["rank"], report["host"]))


def kept(found: list[dict]) -> tuple[int, int]:
    """(EOS labels kept, real EOS tokens) over all ranks."""
    return sum(r["kept"] for r in found), sum(r["eos"] for r in found)
