"""syncd: a helpdesk that lives inside a Discourse forum."""

__version__ = "0.1.0"
