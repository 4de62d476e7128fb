"""causalstream.models: the math, free of I/O (causal discovery, trajectory prediction).

Takes and returns numpy arrays; never imports ``causalstream.nodes``.

>>> import causalstream.models
>>> causalstream.models.__name__
'causalstream.models'
"""
