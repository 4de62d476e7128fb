"""Moved to :mod:`causalstream.stream.bus.security`; this path stays for the imports that still use it.

>>> import causalstream.stream.bus.security as moved
>>> moved.__name__
'causalstream.stream.bus.security'
"""

from causalstream.stream.bus.security import *  # noqa: F403
from causalstream.stream.bus.security import __all__  # noqa: F401
