"""Print the README's set-up line or test command, so CI runs exactly what a new user runs.

Usage: ``python .ci/readme_commands.py setup|test`` (standard library only: it runs
before any virtual environment exists). The command is the single line of the first
```bash block under the README heading "## Set-up" (``setup``) or "## Run the tests"
(``test``); anything else there is an error, so README and CI cannot drift apart.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HEADINGS = {"setup": "## Set-up", "test": "## Run the tests"}
README = Path(__file__).resolve().parent.parent / "README.md"


def readme_command(which: str, text: str | None = None) -> str:
    """The one-line command of the README section ``which`` (``setup`` or ``test``)."""
    if which not in HEADINGS:
        raise ValueError(f"which must be one of {sorted(HEADINGS)}, got {which!r}")
    text = README.read_text(encoding="utf-8") if text is None else text
    heading = HEADINGS[which]
    start = text.find("\n" + heading + "\n")
    if start < 0:
        raise ValueError(f"README.md has no heading {heading!r}")
    section = text[start + len(heading) + 2:]
    nxt = re.search(r"^## ", section, flags=re.M)
    section = section[: nxt.start()] if nxt else section
    block = re.search(r"^```bash\n(.*?)^```", section, flags=re.M | re.S)
    if block is None:
        raise ValueError(f"README.md section {heading!r} has no ```bash block")
    lines = [ln for ln in block.group(1).splitlines() if ln.strip()]
    if len(lines) != 1 or lines[0].rstrip().endswith("\\"):
        raise ValueError(f"README.md section {heading!r} must hold exactly one command line, got {lines}")
    return lines[0].strip()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    try:
        print(readme_command(sys.argv[1]))
    except ValueError as exc:
        sys.exit(f"error: {exc}")
