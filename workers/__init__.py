"""The engine: the pure core (parse, normalise, clean, fingerprint, match) and the adapters it
needs (queue, LSH index, store), plus the worker loop that joins them."""
