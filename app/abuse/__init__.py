"""Abuse controls: request rate limits (`app.abuse.rate_limits`, needs the `admin` extra's
`limits` package) and load shedding (`app.abuse.load_shedding`, no dependencies).

Nothing is imported here: the battle rules use load shedding in every process, the vLLM
worker's environment included, which does not install the rate limiter's packages.
"""
