"""acd's Asterisk stand-in: an AMI server driven by an app_queue model (``acd sim``).

It shares only the wire codec with the daemon (docs/architecture.md: the simulator is Asterisk's
stand-in, not the daemon's twin); its reference is the captures in tests/fixtures/ami.

Layout (one job per module):

- ``config``       SimConfig, manager.conf users and queues.conf queues (``conf_parser`` reads the
  syntax)
- ``server``       the AMI TCP edge: sessions, login, read-class filtering, writetimeout, faults
- ``actions``      every AMI action, with Asterisk's write classes and answers: the table in the
  package, the bodies in ``session``, ``queues``, ``channels`` and ``system`` (AstDB, Command...)
- ``pbx``          the PBX's state (queues, members, devices, channels, calls) and its invariants;
  ``entities`` the records it holds, ``clock`` the simulated-time scheduler
- ``app_queue``    a caller joins, members ring, one answers; ``queue_strategy`` whom it may ring;
  ``endings`` how an entry ends; ``transfers``; ``members`` QueueAdd/Remove/Pause/Penalty;
  ``hangups`` an AMI Hangup or a restart mapped onto those; ``dialplan_calls`` the caller outside
  any queue (its channel in the dialplan, Dial())
- ``state_events`` the PBX's state as the fields of the captured phases and member events;
  ``emit`` the wire rendering; ``templates.json`` the call phases cut from the captures by
  scripts/gen_templates.py (regenerate after a new capture lands)
- ``truth``        the true record of every queue entry; ``queue_log`` Asterisk's queue_log file
- ``traffic``      Poisson callers, agents, endings, callbacks, repeats
- ``dialplan``     the extensions.conf subset; ``expressions`` ``${}``/``$[]``; ``interp`` runs it,
  with ``channel_functions`` (CURL, HASH...), ``curl`` (func_curl) and ``fastagi``
- ``simulator``    the facade tying them to one clock

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
