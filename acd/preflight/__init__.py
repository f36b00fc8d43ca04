"""``acd check``: the preflight an operator runs before enabling the service.

Each check gives one line with a verdict (:mod:`acd.preflight.results`): OK, WARN (works, but look
at it) or FAIL (the daemon would not work as configured). The checks, in the order they are printed,
are :func:`acd.preflight.checklist.run_checks`. The analysis is pure (functions over what was
observed, :mod:`acd.preflight.ami_verdicts`); the I/O is a short-lived AMI session over a plain
asyncio stream with acd's own codec (:mod:`acd.preflight.ami_session`), a database probe
(:mod:`acd.preflight.database`), the queue_log file (:mod:`acd.preflight.queue_log`) and two port
binds. A preflight connection needs none of the daemon's reconnect machinery.

What the manager user may do (AMI classes):
- write classes come from ``ListCommands``: Asterisk lists exactly the actions the user's write
  classes allow, each with its ``(Priv: ...)`` classes. An action listed with a single class proves
  that class is granted, which is how a broader-than-needed grant is spotted.
- read classes cannot be asked for; they are inferred from what arrives: ``FullyBooted`` after the
  login means ``system``, a ``UserEvent`` acd sent itself coming back means ``user``, and any event
  whose ``Privilege`` names ``agent`` or ``call`` proves those. What did not show up within the
  observation window is reported as unverified (normal for ``agent``/``call`` on an idle PBX).
- ``timestampevents`` is inferred from a broadcast event's ``Timestamp`` header. Not from ``Ping``
  (its response carries ``Timestamp`` whether the option is on or off) and not from the login's
  ``FullyBooted`` (Asterisk writes that one straight to the session, without a timestamp). Off is
  a WARN (a FAIL with ``ACD_AMI__REQUIRE_TIMESTAMPS=true``): acd then times events when it reads
  them, so a stall in acd shifts every wait and talk time read after it.
- the routing lookup is verified from Asterisk's side: ``Getvar`` of
  ``CURL(http://<lookup>/ping)`` makes Asterisk itself fetch acd's ``/ping`` (``write=reporting``
  suffices). It proves func_curl is loaded and that Asterisk reaches the lookup's address; while
  acd is stopped the check answers on the lookup port itself for the duration.

:data:`acd.ami.classes.WRITE_NEEDS` is the one table of which actions each feature sends; the
manager user ``acd asterisk-config`` writes comes from it too.
"""
