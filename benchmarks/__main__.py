"""``python -m benchmarks``: run every benchmark, print the table, write the JSON report."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
