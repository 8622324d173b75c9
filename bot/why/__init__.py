"""Why a run failed: the first error and the failed tests in a failed action's log (Slack-free core).

``model`` is what the finder returns and the renderers show; ``rules`` are the data (one table per
tool, each rule with a name and an example line); ``finder`` applies them to a window of the log;
``reading`` reads that window, the log's last ``WHY_MAX_LINES`` lines, through ``/logs``.
"""
