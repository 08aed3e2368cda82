"""The `mnistq` command line."""
