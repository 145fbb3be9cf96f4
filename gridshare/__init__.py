"""gridshare: settlement for community electricity markets."""

__version__ = "0.1.0"
