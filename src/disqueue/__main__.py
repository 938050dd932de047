"""`python -m disqueue`: the same as the `disqueue` command."""

import sys

from disqueue.cli.main import main

sys.exit(main())
