"""Acting on runs from Slack, as the person who asks: approve, provide variables, retry, cancel, run;
each done once and written into the audit trail. No Slack code (the Slack parts are in ``bot/slack``)."""
