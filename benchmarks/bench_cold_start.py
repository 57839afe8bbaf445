"""Cold start: a fresh interpreter imports the app and calls create_app.

    .venv/bin/python benchmarks/bench_cold_start.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile

SNIPPET = """
import time, sys
t0 = time.perf_counter()
from smart_app import create_app
app = create_app({"TESTING": True, "MBT_SESSION_DB": sys.argv[1]})
print((time.perf_counter() - t0) * 1000)
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.runs):
            out = subprocess.run([sys.executable, "-c", SNIPPET, f"{tmp}/s{n}.sqlite3"],
                                 check=True, capture_output=True, text=True)
            times.append(float(out.stdout.strip().splitlines()[-1]))
    print(f"import + create_app over {args.runs} fresh interpreters: "
          f"median {statistics.median(times):.0f} ms, max {max(times):.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
