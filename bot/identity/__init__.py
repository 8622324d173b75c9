"""Who a Slack person is in Buddy: linked accounts (tokens encrypted at rest), and how they link.

No Slack code: the Slack parts (commands, the token modal, the OAuth callback route) are in
``bot/slack``.
"""
