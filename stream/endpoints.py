"""Moved to :mod:`causalstream.stream.bus.endpoints`; this path stays for the imports that still use it.

>>> import causalstream.stream.bus.endpoints as moved
>>> moved.__name__
'causalstream.stream.bus.endpoints'
"""

from causalstream.stream.bus.endpoints import *  # noqa: F403
from causalstream.stream.bus.endpoints import __all__  # noqa: F401
