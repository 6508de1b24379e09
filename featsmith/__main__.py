"""``python -m featsmith``: the ``featsmith`` command line (see :mod:`featsmith.cli`)."""

import sys

from featsmith.cli import main

if __name__ == "__main__":
    sys.exit(main())
