"""``python -m broker`` is the same program as ``broker``."""

import sys

from broker.cli.main import main

sys.exit(main())
