"""Content-addressed blob store and image normalisation."""
