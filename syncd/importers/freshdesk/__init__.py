"""The Freshdesk importer: ``reader`` (the export, streamed), ``mapping`` (pure: a record →
the Discourse calls), ``client`` (Discourse, paced), ``runner`` (resumable), ``api``
(Freshdesk API v2 catch-up), ``preflight`` (key and site settings).

May import what ``syncd.importers`` may: core, store, the discourse adapter, infrastructure.
"""
