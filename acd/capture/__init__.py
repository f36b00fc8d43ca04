"""Raw AMI captures (the bytes of one manager connection, as recorded): reading them, dating
their events, and replaying them through the core offline (``acd replay``)."""
