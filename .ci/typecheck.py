"""Type check stream/, models/ and nodes/ with pyright; fail when the error count grows past the baseline.

pyright's settings are pyproject.toml's [tool.pyright] (basic mode), so an editor (VS Code's Pylance
reads the same table, with .venv as the interpreter) and CI agree; the interpreter here is the one
running this script. The baseline is the number in
.ci/pyright-baseline: the errors the code had when the check joined CI (issue 16). It only
shrinks: fix errors, then lower it with `--update` (which refuses to raise it).

    .venv/bin/python .ci/typecheck.py            # check
    .venv/bin/python .ci/typecheck.py --update   # write a lower count
"""

from __future__ import annotations

import collections
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / ".ci" / "pyright-baseline"


def _errors() -> list[dict]:
    pyright = Path(sys.executable).with_name("pyright")
    res = subprocess.run([str(pyright), "--outputjson", "--pythonpath", sys.executable], cwd=ROOT,
                         capture_output=True, text=True, timeout=1200)
    try:
        report = json.loads(res.stdout)
    except ValueError:
        sys.exit(f"pyright gave no report (exit {res.returncode}):\n{res.stdout[-2000:]}{res.stderr[-2000:]}")
    return [d for d in report["generalDiagnostics"] if d["severity"] == "error"]


def _baseline() -> int:
    lines = [line for line in BASELINE.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return int(lines[0])


def main(update: bool) -> int:
    errors, allowed = _errors(), _baseline()
    by_rule = collections.Counter(d.get("rule", "?") for d in errors)
    print(f"pyright: {len(errors)} errors (baseline {allowed}): "
          + ", ".join(f"{rule} {n}" for rule, n in by_rule.most_common()))
    if update:
        if len(errors) > allowed:
            print("not raising the baseline: fix the new errors instead")
            return 1
        BASELINE.write_text(BASELINE.read_text().replace(f"\n{allowed}\n", f"\n{len(errors)}\n"))
        print(f"baseline lowered to {len(errors)}")
        return 0
    if len(errors) > allowed:
        by_file = collections.Counter(str(Path(d["file"]).relative_to(ROOT)) for d in errors)
        print(f"{len(errors) - allowed} more type errors than the baseline; errors per file:")
        for path, n in sorted(by_file.items()):
            print(f"  {n:4d} {path}")
        for d in errors:
            where = f"{Path(d['file']).relative_to(ROOT)}:{d['range']['start']['line'] + 1}"
            print(f"{where}: {d['message'].splitlines()[0]} ({d.get('rule', '?')})")
        return 1
    if len(errors) < allowed:
        print(f"fewer errors than the baseline: lower it (python .ci/typecheck.py --update) to {len(errors)}")
    return 0


if __name__ == "__main__":
    sys.exit(main("--update" in sys.argv[1:]))
