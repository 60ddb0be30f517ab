"""Long fuzz run of the input reader: the properties of tests/test_fuzz_inputs.py on N
random cases (seeded, so a run reproduces), plus every `--ingest-every`-th batch of cases
through the whole ingest stage.

    python bench/fuzz_inputs.py --cases 100000

Prints cases, documents, rejects and failures by kind (container/damage), and cases per
second. A failure prints its seed and case number; `--replay SEED:N` reruns that one case.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from test_fuzz_inputs import RandomChooser, ingest_cases, make_case, read_case  # noqa: E402

from thresher.flows.render import table_text  # noqa: E402


def case_of(seed: int, n: int) -> dict:
    rng = random.Random(f"{seed}:{n}")  # each case alone reproducible
    return make_case(RandomChooser(rng)), rng


def run(cases: int, seed: int, ingest_every: int, show: int) -> int:
    rows: dict[str, Counter] = defaultdict(Counter)
    failures, start = 0, time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for n in range(cases):
            case, rng = case_of(seed, n)
            row = rows[case["kind"]]
            row["cases"] += 1
            try:
                docs, rejects = read_case(case, directory, batch_size=rng.randint(1, 5))
                row["documents"] += len(docs)
                row["rejects"] += len(rejects)
                row["checked"] += case["checked"]
            except Exception:  # every exception is a failure: the reader must not raise
                failures += 1
                row["failures"] += 1
                if failures <= show:
                    print(f"FAILED case {seed}:{n} ({case['kind']}):\n{traceback.format_exc()}")
            if ingest_every and n % ingest_every == ingest_every - 1:
                failures += _ingest_round(seed, n, directory, rows["ingest stage (3 files)"], show)
    elapsed = time.perf_counter() - start
    _report(rows, cases, failures, elapsed)
    return failures


def _ingest_round(seed: int, n: int, directory: Path, row: Counter, show: int) -> int:
    cases = [case_of(seed, n - k)[0] for k in range(3)]
    row["cases"] += 1
    try:
        with tempfile.TemporaryDirectory(dir=directory) as d:
            stats = ingest_cases(cases, Path(d))
        row["documents"] += stats["kept"]
        row["rejects"] += stats["rejected"]
        row["checked"] += all(c["checked"] for c in cases)
        return 0
    except Exception:
        row["failures"] += 1
        if show:
            print(f"FAILED ingest of cases {seed}:{n - 2}..{n}:\n{traceback.format_exc()}")
        return 1


def _report(rows: dict, cases: int, failures: int, elapsed: float) -> None:
    names = {
        "cases": "cases",
        "checked": "provenance checked",
        "documents": "documents",
        "rejects": "rejects",
        "failures": "failures",
    }
    total = Counter()
    for r in rows.values():
        total.update(r)
    table = [
        {"kind": kind, **{name: r[key] for key, name in names.items()}}
        for kind, r in [*sorted(rows.items()), ("total", total)]
    ]
    print(table_text(table, ["kind", *names.values()]))
    print(
        f"\n{cases} reader cases in {elapsed:.1f} s: {cases / elapsed:.0f} cases/s "
        f"(ingest stage runs included); failures: {failures}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--ingest-every",
        type=int,
        default=2000,
        help="run the ingest stage on 3 of the cases every this many (0: never)",
    )
    ap.add_argument("--show", type=int, default=5, help="print the first N failures")
    ap.add_argument("--replay", help="SEED:N: rerun one case and print it")
    args = ap.parse_args()
    if args.replay:
        seed, n = map(int, args.replay.split(":"))
        case, _ = case_of(seed, n)
        print(case["kind"], case["data"][:400])
        with tempfile.TemporaryDirectory() as tmp:
            print(read_case(case, Path(tmp)))
        return 0
    return 1 if run(args.cases, args.seed, args.ingest_every, args.show) else 0


if __name__ == "__main__":
    sys.exit(main())
