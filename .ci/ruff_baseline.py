"""Print the [tool.ruff.lint.per-file-ignores] lines that would make `ruff check` pass today.

The baseline in pyproject.toml only shrinks: use this to see what a file still has, not to grow it.
    .venv/bin/python .ci/ruff_baseline.py
"""

from __future__ import annotations

import collections
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    ruff = Path(sys.executable).with_name("ruff")
    # the isolated config would drop the current baseline: ask for every finding
    res = subprocess.run([str(ruff), "check", "--output-format", "json", "--no-cache",
                          "--config", "lint.per-file-ignores = {}", "."], cwd=ROOT, capture_output=True, text=True)
    codes: dict[str, set[str]] = collections.defaultdict(set)
    for finding in json.loads(res.stdout or "[]"):
        codes[str(Path(finding["filename"]).relative_to(ROOT))].add(finding["code"])
    for path in sorted(codes):
        print(f'"{path}" = {json.dumps(sorted(codes[path]))}')
