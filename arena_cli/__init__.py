"""The `arena` command: the entry point that composes the application.

It sits above both `app` (web, domain, storage) and `workers` (inference, scheduled jobs),
so it is the one place allowed to import both: `arena serve --embedded-workers` and
`arena demo` hand the workers to the web app here. Heavy imports happen inside the
commands so `arena --help` stays fast.
"""
