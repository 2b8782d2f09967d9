"""Prove each patch in patches/manifest.json against the pristine files of released wheels.

Not a pytest module: it downloads wheels from PyPI (``pip download``), so it is
run by hand when a patch or a version range changes, or when upstream
releases::

    PYTHONPATH=shim python tools/vendor_verify_releases.py                 # every release in the ranges
    PYTHONPATH=shim python tools/vendor_verify_releases.py transformers==5.24.0 trl==0.19.1
    PYTHONPATH=shim python tools/vendor_verify_releases.py --scan trl==1.9.0   # and unreviewed pad-masking sites

For each release it takes the patched file out of the wheel and, for every
patch of that package, checks what the manifest claims: inside the patch's
range ``git apply --check`` succeeds, the patch applies, its reverse then
checks, and it does not apply a second time; below the range or in a gap it
must not apply (so a range that is too narrow shows up too). Above the range it
may: ``eosfix vendor`` takes the patch of the nearest code shape on a newer
release and proves it with the label rule's cases before writing. The patches of one
release are applied in manifest order, as ``eosfix vendor`` does. The wheels
stay in the cache directory (``--cache``, default a temporary one).
"""

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from packaging.version import Version

from eosfix.vendoring import vendor


def releases(package, patches):
    """Every release of ``package`` on PyPI from the first one its ``patches`` cover on."""
    first = min(patch.first for patch in patches if patch.package == package)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", package], capture_output=True, text=True, check=True
    )
    line = next(text for text in proc.stdout.splitlines() if text.startswith("Available versions:"))
    versions = [Version(v.strip()) for v in line.split(":", 1)[1].split(",")]
    return sorted(v for v in versions if v >= first and not v.is_prerelease)


def pristine_file(package, version, patch_file, cache):
    wheel_dir = cache / f"{package}-{version}"
    if not any(wheel_dir.glob("*.whl")):
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
             f"{package}=={version}", "-d", str(wheel_dir)],
            check=True,
        )  # fmt: skip
    with zipfile.ZipFile(next(wheel_dir.glob("*.whl"))) as wheel:
        return wheel.read(patch_file)


def unreviewed_sites(package, version, cache):
    """Sites of ``tools/scan_pad_masking.py`` in the release's wheel that its review file does not know."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
    import scan_pad_masking

    pristine_file(package, version, f"{package}/__init__.py", cache)  # downloads the wheel if needed
    review = scan_pad_masking.load_review()
    wheel = next((cache / f"{package}-{version}").glob("*.whl"))
    return [site for site in scan_pad_masking.scan(wheel) if scan_pad_masking.verdict(site, review)[0] == "UNREVIEWED"]


def verify(package, version, patches, cache):
    """One line per patch: ``ok`` where the manifest's claim holds, else what went wrong."""
    own = [p for p in patches if p.package == package]
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / package
        copy = vendor.VendoredPackage(package, directory, version)
        for relative in sorted({p.file for p in own}):
            try:
                content = pristine_file(package, version, relative, cache)
            except KeyError:
                content = None  # the file is gone in this release (tf_call in 5.x is a hunk, not a file)
            if content is not None:
                (Path(tmp) / relative).parent.mkdir(parents=True, exist_ok=True)
                (Path(tmp) / relative).write_bytes(content)
        results = []
        for patch in own:
            in_range = patch.versions.contains(version, prereleases=True)
            fits = (Path(tmp) / patch.file).is_file() and vendor.git_apply(patch, copy, "--check")[0]
            if not in_range:
                if not fits:
                    results.append((patch, "ok (outside range, does not apply)"))
                elif version > patch.last:
                    # A newer release of the same shape: what eosfix vendor proves on the copy before applying.
                    results.append((patch, "ok (newer than its range, applies: eosfix vendor verifies it there)"))
                else:
                    results.append((patch, "APPLIES OUTSIDE RANGE"))
                continue
            applied = fits and vendor.git_apply(patch, copy)[0]
            round_trip = applied and vendor.git_apply(patch, copy, "--check", "--reverse")[0]
            again = applied and vendor.git_apply(patch, copy, "--check")[0]
            ok = fits and applied and round_trip and not again
            results.append((patch, "ok" if ok else f"FAILS (check={fits} apply={applied} reverse={round_trip})"))
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("requirements", nargs="*", help="package==version; default: every release of both")
    parser.add_argument("--cache", type=Path, help="where to keep the downloaded wheels")
    parser.add_argument("--scan", action="store_true", help="also scan each wheel for unreviewed pad-masking sites")
    args = parser.parse_args(argv)
    patches, _ = vendor.load_manifest()
    if args.requirements:
        wanted = [(name, Version(version)) for name, version in (r.split("==") for r in args.requirements)]
    else:
        wanted = [(name, version) for name in ("transformers", "trl") for version in releases(name, patches)]
    cache = args.cache or Path(tempfile.mkdtemp(prefix="eosfix-wheels-"))
    failures = 0
    for name, version in wanted:
        for patch, verdict in verify(name, version, patches, cache):
            print(f"{name} {version}\t{patch.name}\t{verdict}")
            failures += not verdict.startswith("ok")
        if args.scan:
            for site in unreviewed_sites(name, version, cache):
                print(f"{name} {version}\t{site.path}:{site.line}\t{site.function}\tUNREVIEWED pad-masking site")
                failures += 1
    print(f"{len(wanted)} releases, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
