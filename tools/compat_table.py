"""Build the README tables: compatibility from a tox matrix run, and the vendor patches from their manifest.

Every tox env ends by running ``python -m eosfix doctor --json`` and saving
its one JSON object as ``{toxworkdir}/compat/{env_name}.json``.  This script
reads those files and prints a Markdown table: one row per (transformers, trl)
pair, saying whether the stock collator loses EOS labels there and whether
they survive with eosfix.  With ``--write README.md`` it replaces the block
between ``<!-- compat:start -->`` and ``<!-- compat:end -->`` instead.

Envs that differ only in wrapt fold into one row; should they disagree, the
cell names the wrapt version behind each answer rather than hiding it.

With ``--patches`` it prints the table of the vendor patches instead, read
from ``patches/manifest.json`` by ``eosfix vendor``'s own reader, and
``--patches --write FILE`` replaces the block between
``<!-- patches:start -->`` and ``<!-- patches:end -->`` (README.md and
patches/README.md hold one each), so the tables cannot drift from the
manifest the command applies.

The compatibility table needs only the standard library, so any Python 3.9+
can run it, inside a tox env or not; ``--patches`` also needs ``packaging``.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import sys
from pathlib import Path

START_MARKER = "<!-- compat:start -->"
END_MARKER = "<!-- compat:end -->"
PATCHES_START, PATCHES_END = "<!-- patches:start -->", "<!-- patches:end -->"
REPO = Path(__file__).resolve().parent.parent
DEFAULT_DIR = REPO / ".tox" / "compat"
PATCH_DIR = REPO / "shim" / "eosfix" / "vendoring" / "patches"
REQUIRED_KEYS = ("transformers", "affected", "fixed")


class CompatError(Exception):
    """A problem with the inputs that the user has to fix."""


def version_key(version: str | None) -> tuple:
    # Sorts by the numeric release segment only ("5.0.0" > "4.57.6" >
    # "4.9.1"); no trl sorts first.  Enough for release versions, and keeps
    # the script free of third-party imports.
    if version is None:
        return ()
    return tuple(int(part) for part in re.findall(r"\d+", version.split("+")[0]))


def load_reports(directory: Path, excluded: list[str]) -> dict[str, dict]:
    """Read every ``<env>.json`` in *directory*, keyed by env name."""
    if not directory.is_dir():
        raise CompatError(f"{directory} does not exist: run the tox matrix first")
    reports = {}
    for path in sorted(directory.glob("*.json")):
        env = path.stem
        if any(fnmatch.fnmatchcase(env, pattern) for pattern in excluded):
            continue
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CompatError(f"{path}: not a doctor report ({exc})") from exc
        if not isinstance(report, dict):
            raise CompatError(f"{path}: expected one JSON object")
        missing = [key for key in REQUIRED_KEYS if key not in report]
        if missing:
            raise CompatError(f"{path}: missing key(s) {', '.join(missing)}")
        for key in ("affected", "fixed"):
            if not isinstance(report[key], bool):
                raise CompatError(f"{path}: {key!r} must be true or false, got {report[key]!r}")
        reports[env] = report
    if not reports:
        raise CompatError(f"no doctor reports in {directory}")
    return reports


def yes_no(value: bool) -> str:
    return "yes" if value else "no"


def answer_cell(reports: list[tuple[str, dict]], key: str) -> str:
    answers = {report[key] for _, report in reports}
    if len(answers) == 1:
        return yes_no(answers.pop())
    # The envs of one pair disagree: say which wrapt gave which answer.  When
    # the same wrapt version gave both answers, wrapt is not the difference,
    # so name the envs instead.
    by_wrapt: dict[str, set] = {}
    for _, report in reports:
        by_wrapt.setdefault(report.get("wrapt"), set()).add(report[key])
    use_wrapt = None not in by_wrapt and all(len(seen) == 1 for seen in by_wrapt.values())
    labels: dict[bool, list[str]] = {True: [], False: []}
    for env, report in reports:
        label = f"wrapt {report['wrapt']}" if use_wrapt else env
        if label not in labels[report[key]]:
            labels[report[key]].append(label)
    return ", ".join(f"{yes_no(answer)} ({', '.join(labels[answer])})" for answer in (True, False) if labels[answer])


def build_table(reports: dict[str, dict]) -> str:
    """Return the Markdown table for *reports* (env name -> doctor JSON)."""
    pairs: dict[tuple, list[tuple[str, dict]]] = {}
    for env, report in reports.items():
        pair = (report["transformers"], report.get("trl"))
        pairs.setdefault(pair, []).append((env, report))

    lines = [
        "| transformers | trl | stock collator loses EOS labels | EOS labels kept with eosfix | tested with wrapt |",
        "|---|---|---|---|---|",
    ]
    for pair in sorted(pairs, key=lambda p: (version_key(p[0]), version_key(p[1]))):
        transformers_version, trl_version = pair
        group = sorted(pairs[pair], key=lambda item: version_key(item[1].get("wrapt")))
        wrapt_versions = sorted({r["wrapt"] for _, r in group if r.get("wrapt")}, key=version_key)
        lines.append(
            "| {} | {} | {} | {} | {} |".format(
                transformers_version,
                trl_version or "—",
                answer_cell(group, "affected"),
                answer_cell(group, "fixed"),
                ", ".join(wrapt_versions) or "?",
            )
        )
    return "\n".join(lines) + "\n"


def patch_table(patch_dir: Path = PATCH_DIR) -> str:
    """Return the Markdown table of the vendor patches in *patch_dir*'s manifest, in the manifest's order."""
    if str(REPO / "shim") not in sys.path:
        sys.path.insert(0, str(REPO / "shim"))
    from eosfix.vendoring.vendor import load_manifest

    patches, _ = load_manifest(patch_dir)
    lines = ["| patch | package | releases | what it patches |", "|---|---|---|---|"]
    lines += [f"| `{p.name}` | {p.package} | {p.first} – {p.last} | {p.code} |" for p in patches]
    return "\n".join(lines) + "\n"


def replace_block(text: str, table: str, markers: tuple[str, str] = (START_MARKER, END_MARKER)) -> str:
    """Put *table* between the *markers* (by default the compat markers) of *text*."""
    start_marker, end_marker = markers
    start = text.find(start_marker)
    end = text.find(end_marker)
    if start == -1 or end == -1 or end < start:
        raise CompatError(f"markers {start_marker} ... {end_marker} not found in order")
    if text.find(start_marker, start + 1) != -1 or text.find(end_marker, end + 1) != -1:
        raise CompatError(f"markers {start_marker} ... {end_marker} appear more than once")
    head = text[: start + len(start_marker)]
    return f"{head}\n{table}{text[end:]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dir",
        type=Path,
        default=DEFAULT_DIR,
        help="folder of <env>.json doctor reports (default: %(default)s)",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="ENV",
        help="skip envs matching this glob, e.g. --exclude latest (repeatable)",
    )
    parser.add_argument(
        "--write",
        type=Path,
        metavar="FILE",
        help="replace the table between the compat (with --patches: patches) markers in FILE instead of printing",
    )
    parser.add_argument(
        "--patches", action="store_true", help="the table of the vendor patches, from patches/manifest.json"
    )
    args = parser.parse_args(argv)

    try:
        if args.patches:
            table, markers = patch_table(), (PATCHES_START, PATCHES_END)
        else:
            reports = load_reports(args.dir, args.exclude)
            table, markers = build_table(reports), (START_MARKER, END_MARKER)
            print(f"compat_table: {len(reports)} env(s): {', '.join(reports)}", file=sys.stderr)
        if args.write is None:
            sys.stdout.write(table)
            return 0
        text = args.write.read_text(encoding="utf-8")
        updated = replace_block(text, table, markers)
    except (CompatError, OSError) as exc:
        print(f"compat_table: {exc}", file=sys.stderr)
        return 1
    if updated != text:
        args.write.write_text(updated, encoding="utf-8")
        print(f"compat_table: updated {args.write}", file=sys.stderr)
    else:
        print(f"compat_table: {args.write} already up to date", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
