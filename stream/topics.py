"""Moved to :mod:`causalstream.stream.bus.topics`; this path stays for the imports that still use it.

>>> import causalstream.stream.bus.topics as moved
>>> moved.__name__
'causalstream.stream.bus.topics'
"""

from causalstream.stream.bus.topics import *  # noqa: F403
from causalstream.stream.bus.topics import __all__  # noqa: F401
