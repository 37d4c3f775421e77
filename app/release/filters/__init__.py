"""Release filters, one module each. Every filter has a ``name``, a ``version`` (bumped
when what it removes changes, which also invalidates its cache), its ``params`` and a
report of what it removed. ``pipeline.run`` applies them in order; each sees only what
the previous ones kept, so the removed counts add up."""
