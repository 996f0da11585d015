"""The simulator: recorded or synthetic markets behind a vn.py gateway.

- :mod:`sim.replay`: stream recorded CTP Level-1 ticks (``iter_ticks``).
- :mod:`sim.instruments`: CTP instrument reference data (``load_instruments``).
- :mod:`sim.synthetic`: a seeded synthetic market (``SyntheticMarket``).
- :mod:`sim.feed`: the pacing feed thread (``TickFeed``, ``ReplayProgress``).
- :mod:`sim.gateway`: ``SimGateway``, the vn.py ``BaseGateway``.

Nothing is imported here: :mod:`sim.gateway` imports vn.py, which must only
happen after ``transport.vnpy_home.contain_vnpy()``.
"""
