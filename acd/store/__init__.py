"""Durable records: schema, migrations, and the writer that turns the core's effects into rows."""
