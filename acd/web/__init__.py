"""acd's pages for people: sign-in, the rep's desk and screen pop, the wallboard, the review queue.

Server-rendered (Jinja2 through aiohttp-jinja2) on the daemon's HTTP server, with a little plain
JavaScript for live updates (Server-Sent Events) and nothing fetched from elsewhere, so they work
in a softphone's embedded browser under a strict Content-Security-Policy. See :func:`acd.web.app.setup_pages`.
"""
