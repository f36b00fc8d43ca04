"""acd's Asterisk stand-in: an AMI server driven by an app_queue model (``acd sim``).

It shares only the wire codec with the daemon (docs/architecture.md: the simulator is Asterisk's
stand-in, not the daemon's twin); its reference is the captures in tests/fixtures/ami.

Layout (one job per module):

- ``config``     SimConfig, manager.conf users and queues.conf queues (``conf`` reads the syntax)
- ``server``     the AMI TCP edge: sessions, login, read-class filtering, writetimeout, faults
- ``actions``    every AMI action, with Asterisk's write classes and answers
- ``model``      app_queue: who rings when, endings, transfers, Dial, queue join/leave
- ``entities``   the records the model moves; ``clock`` the simulated-time scheduler
- ``traffic``    Poisson callers, agents, endings, callbacks, repeats; the truth file
- ``emit``       wire rendering; ``templates.json`` the call phases cut from the captures by
  scripts/gen_templates.py (regenerate after a new capture lands)
- ``dialplan``   extensions.conf subset and ``${}``/``$[]``; ``interp`` runs it (FastAGI too)
- ``simulator``  the facade tying them to one clock

Python API::

    sim = Simulator(SimConfig(port=0, seed=1, speed=60.0, truth=Path("truth.jsonl")))
    host, port = await sim.start()
    ...
    await sim.wait_calls_done()
    await sim.stop()

``speed=0`` gives a manual clock for deterministic tests (``await sim.advance(seconds)``),
``speed=float("inf")`` runs as fast as the clients read. Scenario calls: ``add_agent``,
``place_call``, ``hangup``, ``answer``; faults: ``drop_connections``, ``restart``,
``set_silent``, ``send_malformed`` (and the ``SimFault`` AMI action).
"""

from acd.sim.config import SimConfig
from acd.sim.simulator import Simulator

__all__ = ["SimConfig", "Simulator"]
