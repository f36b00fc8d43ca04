"""Asterisk's queue_log on the edge: finding and reading the file and its rotated copies, the gap
fill the daemon runs after every start and every AMI gap, and ``acd import queue_log``."""
