"""Moved to :mod:`causalstream.stream.bus.broker`; this path stays for the imports that still use it.

>>> import causalstream.stream.bus.broker as moved
>>> moved.__name__
'causalstream.stream.bus.broker'
"""

from causalstream.stream.bus.broker import *  # noqa: F403
from causalstream.stream.bus.broker import __all__  # noqa: F401
