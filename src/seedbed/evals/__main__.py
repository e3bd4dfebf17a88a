"""``python -m seedbed.evals OUT [inspect eval arguments]``: see :mod:`seedbed.evals.runner`."""

import sys

from seedbed.evals.runner import main

sys.exit(main())
