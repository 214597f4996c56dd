"""Django integration (being built: see issue 3)."""
