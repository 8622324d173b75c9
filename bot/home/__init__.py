"""The Home tab's core (no Slack code): what it shows each person, gathered from the state store, and
the recording of the runs it lists (waiting for approval, asked about) and of who opened it."""
