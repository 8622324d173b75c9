"""Each Slack installation's own Buddy settings (its hosts, its token or only people's linked
accounts, its allowed Buddy workspaces and Slack channels), kept encrypted in the state store, over
the environment's settings, which are only the defaults. Slack-free: an installation is its key."""
