"""The bus core: one publisher and one subscriber (each typed or raw), the broker, the transports.

``publisher`` and ``subscriber`` hold the envelope, the sequence numbers and the gap and
duplicate counting; ``counters`` the one :class:`~causalstream.stream.bus.counters.Counters`
struct; ``direct`` the broker-free local path and ``broker`` the proxy; ``topics`` the
well-known topics' defaults; ``endpoints`` and ``security`` where the bus lives and how its
sockets are configured; ``reporter`` publishes each process's counters on ``/bus/stats``.

>>> from causalstream.stream.bus import publisher, subscriber
>>> publisher.Publisher.__name__, subscriber.Subscriber.__name__
('Publisher', 'Subscriber')
"""
