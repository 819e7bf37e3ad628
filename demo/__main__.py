"""`python -m demo [--for SECONDS] ...` (script/demo installs what it needs first)."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
