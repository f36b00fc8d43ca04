"""One home for the tests' fakes and helpers, so each exists once.

- :mod:`tests.support.credentials`: random secrets (a test never relies on a built-in one);
- :mod:`tests.support.clock`: a simulated clock with an async ``sleep``, for code that takes
  ``clock``/``sleep`` (the AMI client, the systemd watchdog): tests count exactly what happens in
  simulated time instead of hoping a wall-clock window was long enough;
- :mod:`tests.support.waiting`: wait for a condition with a deadline (never a fixed sleep);
- :mod:`tests.support.fake_ami`: a real TCP stand-in for Asterisk's manager interface;
- :mod:`tests.support.browser`: the pages' browser harness: the simulator and the daemon on a
  thread of their own, a headless Chromium that screenshots every page it visits;
- :mod:`tests.support.pages`: the pages over HTTP without a browser (sign-in, CSRF tokens);
- :mod:`tests.support.synthetic`: plausible effects, live snapshots and KPIs at call-center scale
  for the metrics tests, the dashboard checks and bench/bench_metrics.py.

(What the test command may change on the machine, and the check that it changed nothing, is
scripts/machine.py: it runs before this package's virtualenv exists.)
"""
