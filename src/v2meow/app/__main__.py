"""`python -m v2meow.app` is `v2meow-app`."""

import sys

from v2meow.cli.app import main

sys.exit(main())
