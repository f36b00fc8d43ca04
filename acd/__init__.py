"""acd: automatic call distribution companion for Asterisk."""

__version__ = "0.1.0"
