"""The command line's parts beside jaxssl/main.py: one-line refusals and the multi-process start."""
