"""``python -m hrnet_zoo.cli …`` (also ``torchrun … -m hrnet_zoo.cli train …``)."""
import sys

from hrnet_zoo.cli import main

sys.exit(main())
