"""Durable work: everything the bot accepts is a unit of work recorded before Slack (or Buddy) hears
back, done under a lease, with each of its effects recorded, so a crash, a restart or another
replica finishes it exactly once. Slack-free: the Slack side says what an effect is."""
