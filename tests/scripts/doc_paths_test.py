#!/usr/bin/env python3
"""Every repository path the docs, comments and scripts name exists.

Scans README.md, docs/, include/, src/, scripts/, configs/, tests/ and the CMake files for paths
that start with one of the repository's top-level folders (docs/..., scripts/..., configs/...,
include/..., src/..., tests/..., third_party/...) and fails naming each one that is not there, with
the files that name it. Paths with a wildcard or a placeholder (<run_dir>) are skipped. CTest runs
it in the lint label (doc_paths)."""

import os
import re
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PATH = re.compile(
    r"(?<![\w./<>-])((?:docs|scripts|configs|include|src|tests|third_party)/[A-Za-z0-9_.\-/]*"
    r"[A-Za-z0-9_])")


def main():
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "README.md", "docs", "include", "src",
         "scripts", "configs", "tests", "CMakeLists.txt"],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout.split()
    missing = {}
    for rel in listed:
        path = os.path.join(ROOT, rel)
        # Tests name their fixtures relative to tests/data; corpora and golden files are data.
        if not os.path.isfile(path) or rel.startswith(("tests/unit/", "tests/fuzz/corpus/",
                                                       "tests/data/")):
            continue
        try:
            text = open(path, encoding="utf-8").read()
        except UnicodeDecodeError:
            continue
        for m in PATH.finditer(text):
            if text[m.end():m.end() + 1] in ("<", ">", "*", "{", "$", "["):
                continue  # a pattern or a placeholder follows: not one path
            ref = m.group(1).rstrip(".")
            if not os.path.exists(os.path.join(ROOT, ref)):
                missing.setdefault(ref, set()).add(rel)
    for ref, where in sorted(missing.items()):
        print(f"{ref}: named in {', '.join(sorted(where))}, but it does not exist", file=sys.stderr)
    if not missing:
        print(f"doc paths: every repository path named in {len(listed)} files exists")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
