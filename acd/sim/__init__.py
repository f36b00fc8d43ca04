"""acd's Asterisk stand-in: an AMI server driven by an app_queue model (``acd sim``).

It shares only the wire codec with the daemon (DESIGN.md: the simulator is Asterisk's stand-in,
not the daemon's twin); its reference is the captures in tests/fixtures/ami.
"""

from acd.sim.config import SimConfig
from acd.sim.simulator import Simulator

__all__ = ["SimConfig", "Simulator"]
