"""Callgrid: scheduling and video calls."""
