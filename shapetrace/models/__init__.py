"""Getting a model: the 40 applications, model specs and files, user code, untrusted input."""
