"""One home for the tests' fakes and helpers, so each exists once.

- :mod:`tests.support.credentials`: random secrets (a test never relies on a built-in one);
- :mod:`tests.support.clock`: a simulated clock with an async ``sleep``, for code that takes
  ``clock``/``sleep`` (the AMI client, the systemd watchdog): tests count exactly what happens in
  simulated time instead of hoping a wall-clock window was long enough;
- :mod:`tests.support.waiting`: the one way to wait for a condition, with a deadline (never a fixed
  sleep);
- :mod:`tests.support.fake_ami`: the tests' one fake Asterisk manager interface (a real TCP server;
  with ``users`` it enforces manager.conf's classes; ``FakeAsterisk`` runs it on a thread), beside
  the simulator (``acd.sim``), which is the product's own stand-in for a whole call center;
- :mod:`tests.support.http`: the API and pages under aiohttp's test client;
- :mod:`tests.support.prometheus`: a real Prometheus and the check of every panel and alert;
- :mod:`tests.support.ports`: a free port for a process a test starts;
- :mod:`tests.support.browser`: the pages' browser harness: the simulator and the daemon on a
  thread of their own, a headless Chromium that screenshots every page it visits;
- :mod:`tests.support.pages`: the pages over HTTP without a browser (sign-in, CSRF tokens);
- :mod:`tests.support.synthetic`: plausible effects, live snapshots and KPIs at call-center scale
  for the metrics tests, the dashboard checks and bench/bench_metrics.py.

(What the test command may change on the machine, and the check that it changed nothing, is
scripts/machine.py: it runs before this package's virtualenv exists.)
"""
