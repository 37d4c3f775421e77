"""HTTP: public pages, the JSON API, the SSE relay."""
