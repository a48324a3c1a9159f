"""Scheduled reports: a cron in the owner's timezone, each slot run once as an export job and delivered
by webhook and e-mail.

``slots`` is the calendar (which instants are due), ``validation`` reads a schedule's body,
``store`` keeps schedules and claims each slot once, ``mail`` sends a report. Built on ``jobs``
(the export itself, the file, the webhook); never imports ``web`` or ``ops``.
"""
