"""`python -m tinygrad_scalar ...` runs the `tinygrad-scalar` command line.

The same entry point as the installed script (tinygrad_scalar.cli.main), for environments
where the script is not on PATH; the exit status is the command line's.
"""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
