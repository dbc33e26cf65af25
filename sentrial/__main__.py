"""``python -m sentrial``: the ``sentrial`` command."""

import sys

from sentrial.cli import main

sys.exit(main())
