"""The HTTP API (aiohttp): outcomes, call lookups and the agents' screen pop."""

from acd.api.app import build_app
from acd.api.livecalls import LiveCalls

__all__ = ["LiveCalls", "build_app"]
