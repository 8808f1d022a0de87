"""``python -m benchmarks``: run every benchmark, print the tables, write the JSON report."""

import sys

if __name__ == "__main__":
    # Imported here, not above: the fake's spawned child imports this module again (as __mp_main__) and
    # needs none of the harness.
    from ._cli import main

    sys.exit(main())
