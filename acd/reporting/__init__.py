"""``acd report``'s periods and output formats; the numbers come from :mod:`acd.reads.summary`."""
