#!/usr/bin/env python3
"""Mutation testing: does the test suite notice when the maths is wrong?

Reads the catalogue (tests/mutation/mutants.txt), and for each mutant, in a scratch copy of the
working tree: replaces one exact piece of code by a wrong one, rebuilds the test binaries, runs the
tests the mutant names (CTest names as a regular expression), and puts the code back. A mutant is
killed when a test fails. Prints one line a mutant and the score; exits 0 only when every mutant is
killed, except those the catalogue documents as equivalent (which must survive: a killed
"equivalent" mutant is a catalogue error too).

Run through scripts/mutation_test.sh; see its header for the options.
"""

import argparse
import filecmp
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TARGETS = ["infalign_base_tests", "infalign_unit_tests", "infalign_e2e_tests"]
FIELDS = {"id", "area", "file", "find", "replace", "tests", "equivalent"}


class CatalogueError(Exception):
    pass


def unescape(text):
    return text.replace("\\n", "\n").replace("\\t", "\t")


def read_catalogue(path):
    """Blocks of `key: value` lines separated by blank lines; `#` starts a comment line."""
    mutants, block, start = [], {}, 0
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines() + [""]
    for number, line in enumerate(lines, 1):
        if line.startswith("#"):
            continue
        if not line.strip():
            if block:
                missing = {"id", "area", "file", "find", "replace", "tests"} - block.keys()
                if missing:
                    raise CatalogueError(
                        f"{path}:{start}: mutant lacks {', '.join(sorted(missing))}")
                block["line"] = start
                mutants.append(block)
                block = {}
            continue
        key, sep, value = line.partition(":")
        key = key.strip()
        if not sep or key not in FIELDS:
            raise CatalogueError(
                f"{path}:{number}: expected 'key: value' with key one of {sorted(FIELDS)}")
        if not block:
            start = number
        if key in block:
            raise CatalogueError(f"{path}:{number}: '{key}' given twice in one mutant")
        block[key] = value.strip() if key not in ("find", "replace") else unescape(value[1:])
    ids = [m["id"] for m in mutants]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise CatalogueError(f"{path}: duplicate mutant ids {sorted(duplicates)}")
    return mutants


def tracked_files():
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                         check=True, capture_output=True).stdout.decode()
    return [p for p in out.split("\0") if p and os.path.isfile(os.path.join(ROOT, p))]


def sync(copy):
    """Brings the scratch copy up to date with the working tree: only changed files are written, so
    the scratch build stays incremental."""
    written = 0
    for rel in tracked_files():
        src, dst = os.path.join(ROOT, rel), os.path.join(copy, rel)
        if os.path.exists(dst) and filecmp.cmp(src, dst, shallow=False):
            continue
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(src, dst)
        shutil.copymode(src, dst)
        written += 1
    # The fetched tokenizer files some tests read (scripts/fetch_tokenizers.sh) are not tracked.
    data = os.path.join(ROOT, "tests", "data", "tokenizers")
    link = os.path.join(copy, "tests", "data", "tokenizers")
    if os.path.isdir(data) and not os.path.lexists(link):
        os.symlink(data, link)
    return written


def run(cmd, log, **kw):
    with open(log, "a", encoding="utf-8") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        return subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, **kw).returncode


def build(copy, build_dir, log, jobs):
    if not os.path.exists(os.path.join(build_dir, "build.ninja")):
        cxx = ["-DCMAKE_CXX_COMPILER=clang++"] if shutil.which("clang++") else []
        if run(["cmake", "-S", copy, "-B", build_dir, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release"] +
               cxx, log) != 0:
            return False
    return run(["ninja", "-C", build_dir, "-j", str(jobs)] + TARGETS, log) == 0


def run_tests(build_dir, regex, log, timeout, jobs):
    return run(["ctest", "--test-dir", build_dir, "-R", regex, "-j", str(jobs), "--timeout",
                str(timeout), "--output-on-failure", "--no-tests=error"], log)


def text_problem(root, mutant):
    """Why the mutant cannot be applied under `root` (its text must occur exactly once and the
    replacement must differ), or None with the file's text."""
    path = os.path.join(root, mutant["file"])
    if not os.path.isfile(path):
        return f"mutant {mutant['id']}: {mutant['file']} does not exist", None
    with open(path, encoding="utf-8") as f:
        text = f.read()
    count = text.count(mutant["find"])
    if count != 1:
        return (f"mutant {mutant['id']} (catalogue line {mutant['line']}): its 'find' text occurs "
                f"{count} times in {mutant['file']}, expected exactly once (the code changed: "
                f"update the catalogue)"), None
    if mutant["find"] == mutant["replace"]:
        return f"mutant {mutant['id']} (catalogue line {mutant['line']}) changes nothing", None
    return None, text


def apply(copy, mutant):
    problem, original = text_problem(copy, mutant)
    if problem:
        raise CatalogueError(problem)
    path = os.path.join(copy, mutant["file"])
    with open(path, "w", encoding="utf-8") as f:
        f.write(original.replace(mutant["find"], mutant["replace"]))
    return path, original


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("ids", nargs="*", help="mutant ids or regular expressions over them (all)")
    p.add_argument("--catalogue", default=os.path.join(ROOT, "tests", "mutation", "mutants.txt"))
    p.add_argument("--dir", default=os.environ.get("MUTATION_DIR",
                                                   os.path.join(ROOT, "build-mutation")))
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    p.add_argument("--timeout", type=int, default=900, help="seconds per test")
    p.add_argument("--list", action="store_true", help="print the catalogue and exit")
    p.add_argument("--check", action="store_true",
                   help="check that every mutant's text occurs once in the working tree, and exit")
    a = p.parse_args()

    try:
        mutants = read_catalogue(a.catalogue)
    except CatalogueError as e:
        print(f"mutation_test: {e}", file=sys.stderr)
        return 2
    if a.ids:
        picked = [m for m in mutants if any(re.fullmatch(i, m["id"]) for i in a.ids)]
        if not picked:
            print(f"mutation_test: no mutant matches {a.ids}", file=sys.stderr)
            return 2
        mutants = picked
    if a.list:
        for m in mutants:
            flag = "  (documented equivalent)" if "equivalent" in m else ""
            print(f"{m['id']:<38} {m['area']:<20} {m['file']}{flag}")
        print(f"{len(mutants)} mutants")
        return 0

    if a.check:
        bad = [problem for problem, _ in (text_problem(ROOT, m) for m in mutants) if problem]
        for line in bad:
            print(f"{a.catalogue}: {line}", file=sys.stderr)
        if not bad:
            print(f"mutation catalogue: {len(mutants)} mutants, each text found once")
        return 1 if bad else 0

    copy, build_dir = os.path.join(a.dir, "src"), os.path.join(a.dir, "build")
    log = os.path.join(a.dir, "mutation.log")
    os.makedirs(copy, exist_ok=True)
    open(log, "w").close()
    started = time.time()
    print(f"[mutation] scratch copy {copy}: {sync(copy)} files written; log {log}", flush=True)
    if not build(copy, build_dir, log, a.jobs):
        print(f"mutation_test: the unmutated scratch copy does not build; see {log}",
              file=sys.stderr)
        return 1
    # Every mutant's tests must pass on the unmutated code, or a failure would prove nothing.
    # (One CTest run per distinct selection: CTest's regular expressions allow few groups.)
    regexes = sorted({m["tests"] for m in mutants})
    if any(run_tests(build_dir, r, log, a.timeout, a.jobs) != 0 for r in regexes):
        print(f"mutation_test: the mutants' tests fail on the unmutated code; see {log}",
              file=sys.stderr)
        return 1
    print(f"[mutation] baseline built and its tests pass ({time.time() - started:.0f} s)",
          flush=True)

    rows, problems = [], []
    for m in mutants:
        t0 = time.time()
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"\n===== mutant {m['id']}: {m['file']}\n")
        try:
            path, original = apply(copy, m)
        except CatalogueError as e:
            print(f"mutation_test: {e}", file=sys.stderr)
            return 2
        try:
            if not build(copy, build_dir, log, a.jobs):
                outcome = "does not build"
                problems.append(f"{m['id']}: does not compile (fix the catalogue entry)")
            elif run_tests(build_dir, m["tests"], log, a.timeout, a.jobs) != 0:
                outcome = "killed"
            else:
                outcome = "survived"
        finally:
            with open(path, "w", encoding="utf-8") as f:
                f.write(original)
        equivalent = "equivalent" in m
        if outcome == "survived" and not equivalent:
            problems.append(f"{m['id']}: survived `{m['tests']}`")
        if outcome == "killed" and equivalent:
            problems.append(f"{m['id']}: documented as equivalent, but a test kills it")
        label = outcome + (" (documented equivalent)" if equivalent else "")
        rows.append((m, label))
        print(f"[mutation] {m['id']:<38} {m['area']:<20} {label:<34} {time.time() - t0:5.0f} s",
              flush=True)
    # Leaves the scratch build matching the unmutated code for the next run.
    build(copy, build_dir, log, a.jobs)

    equivalent = sum(1 for m, _ in rows if "equivalent" in m)
    killed = sum(1 for _, label in rows if label == "killed")
    scored = len(rows) - equivalent
    print(f"[mutation] {killed} of {scored} mutants killed ({100.0 * killed / max(1, scored):.0f}%), "
          f"{equivalent} documented equivalent; {time.time() - started:.0f} s")
    for line in problems:
        print(f"mutation_test: {line}", file=sys.stderr)
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
