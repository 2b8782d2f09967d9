"""The README's DeepSpeed multi-node steps with the real launcher: pdsh over ssh to two "nodes" on loopback.

One sshd per session (``cluster_engines.sshd_for_pdsh``) on 127.0.0.1 and
127.0.0.2, host names ``node1`` and ``node2``, stopped by its process id at the
end. ``deepspeed --hostfile=hostfile`` starts ``cluster_probe.py`` as one rank
per node; each rank counts the EOS labels it kept: 4 of 4 over both ranks when
the switch reached them, 0 of 4 when it did not. ``HOME`` is an empty folder
for every launch, so no ``~/.deepspeed_env`` of the machine's takes part.

The ``.deepspeed_env`` parser tests call the launcher's own ``main()`` in this
process with its ``pdsh`` call caught: the exported command is what pdsh would
run on every node.
"""

import os
import re
import signal
import subprocess
import sys

import cluster_engines
import pytest
from cluster_engines import PROBE, kept, launch_env, reports
from helpers import require_wheel

import eosfix.cluster

require_wheel()
cluster_engines.require_cluster_env()

DEEPSPEED = os.path.join(os.path.dirname(sys.executable), "deepspeed")
TWO_NODES = "node1 slots=1\nnode2 slots=1\n"
# Forwarded by prefix (runner.py's EXPORT_ENVS), then one that is not.
PREFIXED = {"PYTHON_EOSFIX_PROBE": "p", "MLFLOW_EOSFIX_PROBE": "m", "MV2_EOSFIX_PROBE": "v", "UCX_EOSFIX_PROBE": "u"}
NOT_PREFIXED = {"OTHER_EOSFIX_PROBE": "o"}


@pytest.fixture(scope="module")
def ssh(request):
    """The environment for a launcher that reaches node1 and node2 over the test sshd."""
    cluster_engines.ensure_packages(request.config)
    with cluster_engines.sshd_for_pdsh() as env:
        yield env


def _launch(ssh, tmp_path, hostfile=TWO_NODES, env=None, names=(), check=True):
    """Run ``deepspeed --hostfile=hostfile PROBE`` in ``tmp_path/launch``; return (reports, completed process)."""
    launch, home, out = tmp_path / "launch", tmp_path / "home", tmp_path / "out"
    for folder in (launch, home, out):
        folder.mkdir(exist_ok=True)
    (launch / "hostfile").write_text(hostfile)
    # --master_addr: without it the runner asks node1 for `hostname -I`, which is not a loopback address.
    argv = [
        DEEPSPEED,
        "--hostfile=hostfile",
        "--master_addr=127.0.0.1",
        f"--master_port={cluster_engines.free_port()}",
    ]
    argv += [str(PROBE), str(out), "SSH_CONNECTION", *names]
    full_env = launch_env(**ssh, HOME=str(home), **(env or {}))
    proc = subprocess.run(argv, cwd=launch, env=full_env, capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, (
            f"deepspeed exited {proc.returncode}:\n{proc.stdout[-4000:]}\n{proc.stderr[-3000:]}"
        )
    return reports(out), proc


def _two_ranks_over_ssh(found):
    """Both ranks ran, each started by sshd on its own node's address: rank 0 too is an ssh session."""
    assert [r["rank"] for r in found] == [0, 1], found
    servers = [r["seen"]["SSH_CONNECTION"].split()[2] for r in found]
    assert servers == ["127.0.0.1", "127.0.0.2"], found


def test_switch_in_the_launching_shell_reaches_no_rank(ssh, tmp_path):
    """The step left out: EOSFIX_AUTOPATCH=1 on the launching shell only. Rank 0, on the launching host, too."""
    found, _ = _launch(
        ssh, tmp_path, env={"EOSFIX_AUTOPATCH": "1", **PREFIXED, **NOT_PREFIXED}, names=[*PREFIXED, *NOT_PREFIXED]
    )
    _two_ranks_over_ssh(found)
    assert not any(r["patched"] or r["switch"] for r in found), found
    assert kept(found) == (0, 4)
    for report in found:
        assert {name: report["seen"][name] for name in PREFIXED} == PREFIXED
        assert all(report["seen"][name] is None for name in NOT_PREFIXED)


@pytest.mark.parametrize("where", ["launch directory, by write_deepspeed_env", "$HOME", "DS_ENV_FILE"])
def test_deepspeed_env_patches_every_rank(ssh, tmp_path, where):
    """The README's step: EOSFIX_AUTOPATCH=1 in .deepspeed_env, from a launching shell without the switch."""
    env = {}
    if where.startswith("launch"):
        (tmp_path / "launch").mkdir()
        env_file = tmp_path / "launch" / ".deepspeed_env"
        env_file.write_text("EOSFIX_PROBE_KEEP=kept\n")  # a user's own line, kept by the helper
        eosfix.cluster.write_deepspeed_env(env_file)
    elif where == "$HOME":
        (tmp_path / "home").mkdir()
        (tmp_path / "home" / ".deepspeed_env").write_text("EOSFIX_AUTOPATCH=1\n")  # the README's echo
    else:
        (tmp_path / "launch").mkdir()
        (tmp_path / "launch" / "cluster.env").write_text("EOSFIX_AUTOPATCH=1\n")
        env = {"DS_ENV_FILE": "cluster.env"}
    found, _ = _launch(ssh, tmp_path, env=env, names=["EOSFIX_PROBE_KEEP"])
    _two_ranks_over_ssh(found)
    assert all(r["patched"] and r["switch"] == "1" for r in found), found
    assert kept(found) == (4, 4)
    if where.startswith("launch"):
        assert all(r["seen"]["EOSFIX_PROBE_KEEP"] == "kept" for r in found)


@pytest.mark.parametrize("shell_switch", [True, False])
def test_one_host_launches_locally_with_the_whole_environment(ssh, tmp_path, shell_switch):
    env = {"EOSFIX_AUTOPATCH": "1"} if shell_switch else {}
    found, _ = _launch(ssh, tmp_path, hostfile="node1 slots=1\n", env=env)
    assert [r["rank"] for r in found] == [0] and found[0]["seen"]["SSH_CONNECTION"] is None, found
    assert kept(found) == ((2, 2) if shell_switch else (0, 2))


def test_a_commented_out_line_runs_nothing_on_the_nodes(ssh, tmp_path):
    """``#KEY=VALUE`` passes the parser and becomes ``export #KEY=VALUE;``: the shell ignores the rest of the
    command, so no node starts a rank, and the launcher exits 0. write_deepspeed_env refuses such a file."""
    (tmp_path / "launch").mkdir()
    (tmp_path / "launch" / ".deepspeed_env").write_text("#EOSFIX_AUTOPATCH=1\n")
    found, proc = _launch(ssh, tmp_path, env={"EOSFIX_AUTOPATCH": "1"}, check=False)
    assert found == [] and proc.returncode == 0, (found, proc.returncode, proc.stderr[-3000:])
    with pytest.raises(ValueError, match="is not a KEY=VALUE line"):
        eosfix.cluster.write_deepspeed_env(tmp_path / "launch" / ".deepspeed_env")


# --- the launcher's own parser, in this process ------------------------------------------------------------------


@pytest.fixture
def launcher_exports(tmp_path, monkeypatch):
    """Run DeepSpeed's ``runner.main()`` for two nodes in ``tmp_path``; return the exports of its pdsh command."""
    from deepspeed.launcher import runner

    real_popen = subprocess.Popen
    commands = []

    class CaughtPdsh:
        def __init__(self, cmd, *args, **kwargs):
            commands.append(cmd)
            self.returncode = 0

        def wait(self):
            return 0

    def popen(cmd, *args, **kwargs):
        if cmd and cmd[0] == "pdsh":
            return CaughtPdsh(cmd)
        return real_popen(cmd, *args, **kwargs)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(runner.subprocess, "Popen", popen)
    # The paths were read at import: the machine's $HOME must not take part.
    monkeypatch.setattr(runner, "DEEPSPEED_ENVIRONMENT_PATHS", [str(tmp_path / "home"), "."])
    (tmp_path / "hostfile").write_text(TWO_NODES)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def run() -> dict[str, str]:
        try:
            runner.main(["--hostfile=hostfile", "--no_ssh_check", "--master_addr=127.0.0.1", "train.py"])
        finally:
            for sig, handler in handlers.items():  # main() installs its own for the pdsh launch
                signal.signal(sig, handler)
        (cmd,) = commands
        exports = next(part for part in cmd if part.startswith("export "))
        return dict(re.findall(r"export ([^=;]+)=([^;]*);", exports))

    return run


@pytest.mark.parametrize(
    "before",
    [
        "",
        "EOSFIX_PROBE_KEEP=kept\n",
        "EOSFIX_PROBE_KEEP=kept",
        "A=1\r\nB=x=y\n",
        "EOSFIX_AUTOPATCH=0\n",
        "EOSFIX_AUTOPATCH=1\nA=1\n",
        None,
    ],
)
def test_write_deepspeed_env_gives_a_file_the_launcher_exports(tmp_path, launcher_exports, before):
    path = tmp_path / ".deepspeed_env"
    if before is not None:
        path.write_bytes(before.encode())
    eosfix.cluster.write_deepspeed_env(path)
    written = path.read_bytes()
    eosfix.cluster.write_deepspeed_env(path)
    assert path.read_bytes() == written  # idempotent
    text = written.decode()
    assert text.endswith("\n") and "\n\n" not in text and "#" not in text
    exports = launcher_exports()
    assert exports["EOSFIX_AUTOPATCH"] == "1"
    for line in (before or "").splitlines():
        key, value = line.split("=", 1)
        if key != "EOSFIX_AUTOPATCH":
            assert exports[key] == value


@pytest.mark.parametrize("before", ["# eosfix\nEOSFIX_AUTOPATCH=1\n", "A=1\n\n", "\n"])
def test_a_comment_or_blank_line_stops_the_launcher_and_the_helper(tmp_path, launcher_exports, before):
    path = tmp_path / ".deepspeed_env"
    path.write_text(before)
    with pytest.raises(ValueError, match="not enough values to unpack"):
        launcher_exports()
    with pytest.raises(ValueError, match=r"\.deepspeed_env:\d+: .* is not a KEY=VALUE line"):
        eosfix.cluster.write_deepspeed_env(path)
    assert path.read_text() == before
