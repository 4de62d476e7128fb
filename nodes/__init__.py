"""causalstream.nodes: processes wiring the bus to the models (runtime, launcher, CLI).

>>> import causalstream.nodes
>>> causalstream.nodes.__name__
'causalstream.nodes'
"""
