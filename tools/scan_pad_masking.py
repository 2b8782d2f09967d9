"""List every place in a package's source that masks labels or an attention mask by comparing with a pad token id.

With ``pad_token == eos_token`` such a comparison also hits every real EOS, so each site is either fixed by eosfix,
unaffected (its tokenizers never set pad == eos), or a known gap. The scan reads the source with ``ast`` (no
import, no grep): a site is an ``==`` / ``!=`` comparison (or ``.eq()`` / ``.ne()``) with a pad id (an expression
naming ``pad_token_id``, ``pad_id``, ``pad_idx``, ``padding_idx``, ...) that

- selects what an assignment writes, ``labels[labels == pad_id] = -100``;
- is the condition of ``masked_fill`` / ``masked_fill_`` or ``where`` (``torch``, ``np``, ``tf``);
- or is the value given to a name, attribute or keyword about labels or an attention mask,
  ``attention_mask = (input_ids != pad_id).long()``, ``model(..., attention_mask=x.ne(pad_id))``.

A name computed from such a comparison inside the same function (``valid = ids != pad_id; last =
valid.nonzero()[-1]``) counts as the comparison where it selects what a write or ``masked_fill`` / ``where``
touches (``attention_mask[row, last + 1:] = 0``). The written thing decides the kind: labels (by name, or -100 /
``ignore_index`` written), an attention mask (``attention_mask``, ``attn_mask``), or a per-token loss or
log-probability (``loss``, ``nll``, ``logprobs``). Comparisons that only count or locate tokens (position ids,
pooling the last non-pad token, ``(x != pad).sum()``) write none of these and are left out.

Each site is matched against ``tools/pad_masking_review.json``, which says whether eosfix covers it, why it is
not affected, or why it is not covered; sites missing there are ``UNREVIEWED``, so a new release's new sites
show up. Usage::

    python tools/scan_pad_masking.py PACKAGE_DIR_OR_WHEEL [...] [--markdown] [--review tools/pad_masking_review.json]

A wheel (``.whl``) or an sdist (``.tar.gz``) is read without unpacking it to disk. Download them with
``pip download --no-deps --only-binary=:all: trl==1.8.0 -d /tmp/wheels``.
"""

import argparse
import ast
import json
import re
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

REVIEW = Path(__file__).with_name("pad_masking_review.json")

# Identifiers that hold a pad id. "padding_side", "pad_to_multiple_of" and "padding_value" are not ids.
PAD_ID = re.compile(
    r"(?<![A-Za-z0-9])(?:\w*_)?pad(?:ding)?(?:_token)?_(?:id|idx|index)s?(?![A-Za-z0-9])|\bpad_token\b"
)
IGNORE = re.compile(r"-100|ignore|IGNORE")
LABEL_NAME = re.compile(r"label", re.IGNORECASE)
# Attention masks by name; "attentions" (attention weights) and generic "mask" / "padding_mask" are not.
MASK_NAME = re.compile(r"attention_mask|attn_mask", re.IGNORECASE)
# Per-token losses or log-probabilities masked where the target is padding: label masking in another form.
LOSS_NAME = re.compile(r"loss|nll|^ll$|logprob|logp", re.IGNORECASE)


@dataclass(frozen=True)
class Site:
    package: str
    version: str
    path: str  # inside the package, "data/data_collator.py"
    line: int
    function: str  # "Class.method", "function" or "<module>"
    kind: str  # "labels" or "attention"
    code: str  # the statement, one line


def _names_pad(node):
    return bool(PAD_ID.search(ast.unparse(node)))


def _pad_comparison(node):
    """True for ``a == pad`` / ``a != pad`` (either side) and ``a.eq(pad)`` / ``a.ne(pad)``."""
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
        return _names_pad(node.left) or _names_pad(node.comparators[0])
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("eq", "ne"):
        return any(_names_pad(arg) for arg in node.args)
    return False


def _contains_pad_comparison(node):
    return any(_pad_comparison(child) for child in ast.walk(node))


def _mentions(node, names):
    return bool(names) and any(isinstance(child, ast.Name) and child.id in names for child in ast.walk(node))


def _derived_names(function):
    """Names in ``function`` whose value comes from a pad comparison, directly or through other such names.

    ``valid = ids != pad_id; last = valid.nonzero()[-1]; mask[last + 1:] = 0`` makes ``valid`` and ``last``
    derived, so the write to ``mask`` is a site. Order is ignored (a loop may assign before it reads).
    """
    assignments = [
        node
        for node in ast.walk(function)
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and node.value is not None
    ]
    # lengths.append(length) makes lengths derived from length, as an assignment would.
    appends = [
        node
        for node in ast.walk(function)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("append", "extend")
        and isinstance(node.func.value, ast.Name)
        and node.args
    ]
    derived = set()
    changed = True
    while changed:
        changed = False
        for node in appends:
            value, target = node.args[0], node.func.value
            if node.func.value.id not in derived and (_contains_pad_comparison(value) or _mentions(value, derived)):
                derived.add(target.id)
                changed = True
        for node in assignments:
            if not (_contains_pad_comparison(node.value) or _mentions(node.value, derived)):
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name) and isinstance(name.ctx, ast.Store) and name.id not in derived:
                        derived.add(name.id)
                        changed = True
    return derived


def _target_name(node):
    """The name an assignment writes to, for ``x``, ``self.x``, ``batch["x"]``, ``x[...]``."""
    while isinstance(node, ast.Subscript):
        key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            return key.value
        node = node.value
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def _kind(name, *values):
    """ "labels", "attention" or "loss" from the written name and values; None for anything else."""
    text = " ".join(ast.unparse(v) for v in values if v is not None)
    if LABEL_NAME.search(name) or IGNORE.search(text):
        return "labels"
    if MASK_NAME.search(name):
        return "attention"
    if LOSS_NAME.search(name):
        return "loss"
    return None


class _Scanner(ast.NodeVisitor):
    def __init__(self, source_lines):
        self.lines = source_lines
        self.scope = []
        self.derived = [set()]
        self.found = []  # (line, function, kind, statement)
        self._statement = None

    def _add(self, node, kind):
        if kind is None:
            return
        statement = self._statement or node
        text = " ".join(
            line.strip() for line in self.lines[statement.lineno - 1 : (statement.end_lineno or statement.lineno)]
        )
        self.found.append((node.lineno, ".".join(self.scope) or "<module>", kind, text[:160]))

    def _scoped(self, node):
        self.scope.append(node.name)
        function = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        if function:
            self.derived.append(_derived_names(node))
        self.generic_visit(node)
        if function:
            self.derived.pop()
        self.scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scoped

    def _from_pad(self, node):
        """True when ``node`` compares with a pad id, or uses a name derived from such a comparison."""
        return _contains_pad_comparison(node) or _mentions(node, self.derived[-1])

    def generic_visit(self, node):
        if isinstance(node, ast.stmt):
            previous, self._statement = self._statement, node
            super().generic_visit(node)
            self._statement = previous
        else:
            super().generic_visit(node)

    def visit_Assign(self, node):
        self._assignment(node, node.targets, node.value)

    def visit_AugAssign(self, node):
        self._assignment(node, [node.target], node.value)

    def visit_AnnAssign(self, node):
        if node.value is not None:
            self._assignment(node, [node.target], node.value)
        else:
            self.generic_visit(node)

    def _assignment(self, node, targets, value):
        previous, self._statement = self._statement, node
        for target in targets:
            # x[x == pad] = v: the comparison selects what is written.
            if isinstance(target, ast.Subscript) and self._from_pad(target.slice):
                self._add(target, _kind(_target_name(target), value))
        # name = (x != pad) ...: a mask computed from the pad id (calls inside are visited below). Only a
        # comparison written here: a derived name read here was reported where it was assigned, if at all.
        if _contains_pad_comparison(value) and not self._handled_by_call(value):
            for target in targets:
                self._add(value, _kind(_target_name(target)) if not IGNORE.search(ast.unparse(value)) else "labels")
        self.generic_visit(node)
        self._statement = previous

    @staticmethod
    def _handled_by_call(value):
        # masked_fill / where inside the value are reported by visit_Call, not twice.
        return any(
            isinstance(child, ast.Call) and _call_name(child) in ("masked_fill", "masked_fill_", "where")
            for child in ast.walk(value)
        )

    def visit_Call(self, node):
        name = _call_name(node)
        masked_fill = name in ("masked_fill", "masked_fill_")
        # torch.masked_fill(x, condition, value), or x.masked_fill(condition, value).
        function_form = (
            masked_fill and isinstance(node.func, ast.Attribute) and _target_name(node.func.value) == "torch"
        ) and len(node.args) == 3
        if function_form and self._from_pad(node.args[1]):
            self._add(node, _kind(_target_name(node.args[0]), node.args[2]))
        elif masked_fill and not function_form and node.args and self._from_pad(node.args[0]):
            receiver = node.func.value if isinstance(node.func, ast.Attribute) else None
            value = node.args[1] if len(node.args) > 1 else None
            self._add(node, _kind(_target_name(receiver) if receiver is not None else "", value))
        elif name == "where" and len(node.args) == 3 and self._from_pad(node.args[0]):
            written = self._statement.targets[0] if isinstance(self._statement, ast.Assign) else None
            self._add(node, _kind(_target_name(written) if written is not None else "", node.args[1], node.args[2]))
        for keyword in node.keywords:
            # model(..., attention_mask=(x != pad)), labels=...
            # Only a comparison written in the call: a derived name was reported where it was assigned.
            if keyword.arg and _contains_pad_comparison(keyword.value) and not self._handled_by_call(keyword.value):
                self._add(keyword.value, _kind(keyword.arg, keyword.value))
        self.generic_visit(node)


def _call_name(node):
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    if isinstance(node.func, ast.Name):
        return node.func.id
    return ""


def scan_source(text, package, version, path):
    """Sites in one file's source text."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    scanner = _Scanner(text.splitlines())
    scanner.visit(tree)
    unique = {(line, function, kind, code) for line, function, kind, code in scanner.found}
    return [Site(package, version, path, *entry) for entry in sorted(unique)]


def _python_files(source):
    """Yield ``(path inside the archive or directory, text)`` of every .py file, and the package's name."""
    source = Path(source)
    if source.is_dir():
        for file in sorted(source.rglob("*.py")):
            yield str(file.relative_to(source.parent)), file.read_text(encoding="utf-8", errors="replace")
    elif source.suffix == ".whl":
        with zipfile.ZipFile(source) as wheel:
            for name in sorted(wheel.namelist()):
                if name.endswith(".py"):
                    yield name, wheel.read(name).decode("utf-8", errors="replace")
    elif source.name.endswith(".tar.gz"):
        with tarfile.open(source) as sdist:
            for member in sorted(sdist.getmembers(), key=lambda m: m.name):
                if member.isfile() and member.name.endswith(".py"):
                    yield member.name, sdist.extractfile(member).read().decode("utf-8", errors="replace")
    else:
        raise SystemExit(f"scan_pad_masking: {source} is not a directory, a .whl or a .tar.gz")


def _package_and_version(source, files):
    """The package's name and version: from a wheel's or sdist's file name, else from its __init__.py."""
    name = Path(source).name
    match = re.match(r"([A-Za-z0-9_.]+?)-(\d[^-]*?)(?:-py|\.tar\.gz|$)", name)
    if match and not Path(source).is_dir():
        return match.group(1).lower(), match.group(2)
    for path, text in files:
        if path.count("/") == 1 and path.endswith("/__init__.py"):
            version = re.search(r"""^__version__\s*=\s*["']([^"']+)""", text, re.MULTILINE)
            return path.split("/")[0], version.group(1) if version else "?"
    return name, "?"


def scan(source):
    """Every site in a package directory, wheel or sdist."""
    files = [
        (path, text)
        for path, text in _python_files(source)
        if "/tests/" not in f"/{path}" and "/examples/" not in f"/{path}"
    ]
    package, version = _package_and_version(source, files)
    sites = []
    for path, text in files:
        # Paths inside the package: strip "transformers-5.23.0/src/" (sdist) or nothing (wheel, directory).
        inner = re.sub(r"^(?:[^/]+/)?(?:src/)?(?=" + re.escape(package) + "/)", "", path)
        if not inner.startswith(package + "/"):
            continue
        sites += scan_source(text, package, version, inner[len(package) + 1 :])
    return sites


def load_review(path=REVIEW):
    """``{(package, path, function): entry}`` from the review file."""
    entries = json.loads(Path(path).read_text(encoding="utf-8"))["sites"]
    return {(e["package"], e["path"], e["function"]): e for e in entries}


def _applies(entry, version):
    spec = entry.get("versions")
    if not spec:
        return True
    from packaging.specifiers import SpecifierSet

    return SpecifierSet(spec).contains(version, prereleases=True)


def verdict(site, review):
    """``(status, note)`` of a site from the review, or ``("UNREVIEWED", "")``."""
    entry = review.get((site.package, site.path, site.function))
    if entry is None:
        return "UNREVIEWED", ""
    for case in entry["verdicts"]:
        if _applies(case, site.version):
            return case["status"], case["note"]
    return "UNREVIEWED", ""


def markdown(sites, review):
    lines = ["| package | file | line | function | masks | status | why |", "|---|---|---|---|---|---|---|"]
    for site in sites:
        status, note = verdict(site, review)
        lines.append(
            f"| {site.package} {site.version} | `{site.path}` | {site.line} | `{site.function}` | {site.kind} "
            f"| {status} | {note} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sources", nargs="+", type=Path, help="package directories, wheels or sdists")
    parser.add_argument("--markdown", action="store_true", help="one Markdown table instead of tab-separated lines")
    parser.add_argument("--review", type=Path, default=REVIEW, help="the review file (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="JSON lines, one per site")
    args = parser.parse_args(argv)
    review = load_review(args.review)
    sites = [site for source in args.sources for site in scan(source)]
    if args.markdown:
        print(markdown(sites, review))
    else:
        for site in sites:
            status, note = verdict(site, review)
            if args.json:
                print(json.dumps({**site.__dict__, "status": status, "note": note}))
            else:
                print(
                    f"{site.package} {site.version}\t{site.path}:{site.line}\t{site.function}\t{site.kind}\t"
                    f"{status}\t{site.code}"
                )
    unreviewed = sum(verdict(site, review)[0] == "UNREVIEWED" for site in sites)
    print(f"{len(sites)} sites, {unreviewed} unreviewed", file=sys.stderr)
    return 1 if unreviewed else 0


if __name__ == "__main__":
    sys.exit(main())
