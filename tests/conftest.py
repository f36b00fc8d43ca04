from tests.pg_fixtures import pg_server, pg_url  # noqa: F401
