"""The command line: a thin translator from options to library calls and back to exit codes."""
