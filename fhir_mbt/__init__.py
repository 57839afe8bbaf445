"""MBT library."""
