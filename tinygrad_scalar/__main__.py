"""`python -m tinygrad_scalar ...` runs the `tinygrad-scalar` command line."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
