"""``python -m hpcfold`` is the same as the ``hpcfold`` command."""

import sys

from hpcfold.cli import main

sys.exit(main())
