"""The simulator: recorded or synthetic markets behind a vn.py gateway.

- :mod:`sim.replay`: stream recorded CTP Level-1 ticks (``iter_ticks``).
- :mod:`sim.instruments`: CTP instrument reference data (``load_instruments``).
- :mod:`sim.synthetic`: a seeded synthetic market (``SyntheticMarket``).
- :mod:`sim.feed`: the pacing feed thread (``TickFeed``, ``ReplayProgress``).
- :mod:`sim.gateway`: ``SimGateway``, the vn.py ``BaseGateway``.
- :mod:`sim.calibration`, :mod:`sim.universe`: the recorded day's figures; the desk-sized contracts.
- :mod:`sim.multiplex`, :mod:`sim.tape`: replay at desk scale; runs on disk.
- :mod:`sim.harness.scenario`, :mod:`sim.harness.faults`, :mod:`sim.harness.routes`, :mod:`sim.harness.clients`,
  :mod:`sim.harness.traders`, :mod:`sim.harness.report`, :mod:`sim.harness.runner`: faults on a timeline and ``tickstage sim``.

Nothing is imported here: :mod:`sim.gateway` imports vn.py, which must only
happen after ``transport.venue.vnpy_home.contain_vnpy()``.
"""
