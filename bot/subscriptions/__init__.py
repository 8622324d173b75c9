"""Channel subscriptions: Buddy runs announced in Slack channels (Slack-free core).

``events`` turns a webhook delivery or a polled execution into one ``RunEvent``; ``router`` decides,
per subscribed channel, what that event means; ``store`` keeps subscriptions, what was announced
where, and the last final status per pipeline and branch; ``webhook`` (push) and ``poller`` (pull)
feed events in; ``manage`` reads and answers the commands; ``buddy_api`` holds the extra Buddy
calls (a project's pipelines, the workspace webhook).
"""
