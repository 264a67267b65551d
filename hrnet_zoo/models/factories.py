"""Every built-in model entrypoint as a real function, and the one place the built-in families are
registered: importing a family module registers it, and its star import makes its factories attributes
here (and at the top level, ``hrnet_zoo.hrnet_w32``) that IDEs and type checkers see.

Adding a family: one module under ``hrnet_zoo/models/`` whose literal ``__all__`` lists its factories,
and its lines below (its star import, which registers it, its module
for ``__all__``, and its factories in ``__all__``). The order is that of docs/zoo.md's sections and of the CLI's alias prefixes.
"""
from hrnet_zoo.models.hrnet import *  # noqa: F401, F403, I001
from hrnet_zoo.models.simplebaseline import *  # noqa: F401, F403
from hrnet_zoo.models.hourglass import *  # noqa: F401, F403
import hrnet_zoo.models.hourglass as _hourglass  # noqa: I001
import hrnet_zoo.models.hrnet as _hrnet
import hrnet_zoo.models.simplebaseline as _simplebaseline

__all__ = [*_hrnet.__all__, *_simplebaseline.__all__, *_hourglass.__all__]
