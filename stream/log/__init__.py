"""Logs: MCAP files written, read, recovered, exported, recorded off the bus and played onto it.

``writer`` (LogWriter, on ``mcapfile``'s record writer), ``reader`` (read_log, on ``chunks``'
fast chunk reader), ``recover``, ``info``, ``export`` and ``tables`` (DataFrames), ``recorder``
(bus -> log) and ``player`` (log -> bus), the last two clients of the bus core.

>>> from causalstream.stream.log import reader, writer
>>> writer.MSGPACK_ENCODING
'msgpack'
"""
