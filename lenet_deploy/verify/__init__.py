"""Do runtimes compute the same function? ``compare`` (the one comparison and tolerance policy)
and ``parity`` (every runtime against a reference)."""
