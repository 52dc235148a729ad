"""The bundled sample talking-head set: one real photograph animated with known motion."""
