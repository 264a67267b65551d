"""``python -m hrnet_zoo``: the ``hrnet-zoo`` command."""
import sys

from hrnet_zoo.cli import main

sys.exit(main())
