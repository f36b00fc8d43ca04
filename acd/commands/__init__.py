"""One module per ``acd`` subcommand."""
