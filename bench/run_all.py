"""Run every benchmark in bench/ in turn (what `make bench` does); each writes bench/results/NAME.json.

BLAS is capped to one thread for every run (the Makefile exports OMP_NUM_THREADS=1 and
friends; each benchmark also uses threadpoolctl where it compares against tigramite).
Pass names to run a subset: `python bench/run_all.py bus causal`.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["bus", "causal", "logs", "hri", "view", "trajectory", "soak"]


def main(argv: list[str]) -> int:
    names = argv or [n for n in ORDER if (HERE / f"{n}.py").exists()]
    failed = []
    for name in names:
        script = HERE / f"{name}.py"
        if not script.exists():
            print(f"no benchmark {script}", file=sys.stderr)
            failed.append(name)
            continue
        t0 = time.monotonic()
        print(f"== bench/{name}.py", flush=True)
        rc = subprocess.call([sys.executable, str(script)], cwd=HERE.parent)
        print(f"== bench/{name}.py: exit {rc} after {time.monotonic() - t0:.0f} s", flush=True)
        if rc:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
