"""The admin dashboard's domain logic: staff accounts and sessions, CSRF, the audit log,
the moderation queue, the vote-integrity report and operations statistics.

Nothing here knows about HTTP; app/web/admin_routes.py is the web layer.
"""
