"""``python -m tltaxonomy`` = ``tltax``."""

import sys

from .cli import main

sys.exit(main())
