"""causalstream.stream: data in motion (messages, codec, bus, logs, importers).

>>> from causalstream.stream import messages
>>> sorted(messages.MESSAGE_TYPES)[:3]
['AgentStates', 'BusStats', 'CausalEvent']
"""
