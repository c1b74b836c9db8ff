"""Prometheus metrics, one registry for the process (``GET /metrics``)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

DELIVERIES = Counter("syncd_deliveries_received_total",
                     "Webhook deliveries received, by the answer given",
                     ["status"], registry=REGISTRY)
ACCEPTED, DUPLICATE = DELIVERIES.labels("accepted"), DELIVERIES.labels("duplicate")
PROCESSED = Counter("syncd_deliveries_processed_total",
                    "Stored deliveries processed, by outcome", ["outcome"], registry=REGISTRY)
ACTIONS = Counter("syncd_actions_total", "Outbox actions finished, by kind and result",
                  ["kind", "result"], registry=REGISTRY)
RULE_FIRINGS = Counter("syncd_rule_firings_total", "Rules that fired", ["rule"], registry=REGISTRY)
BACKLOG = Gauge("syncd_outbox_backlog", "Actions not yet delivered (pending or sending)",
                registry=REGISTRY)
UNPROCESSED = Gauge("syncd_deliveries_pending", "Stored deliveries not yet processed",
                    registry=REGISTRY)
INGEST_SECONDS = Histogram("syncd_ingest_seconds", "Time to verify, store and answer a delivery",
                           buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5),
                           registry=REGISTRY)
INGEST_BATCH = Histogram("syncd_ingest_batch_deliveries",
                         "Deliveries stored by one commit (group commit)",
                         buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=REGISTRY)
PROCESS_SECONDS = Histogram("syncd_process_seconds", "Time to apply one delivery to its ticket",
                            buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5),
                            registry=REGISTRY)
SEND_SECONDS = Histogram("syncd_send_seconds", "Time of one outgoing call, by action kind",
                         ["kind"], buckets=(.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30),
                         registry=REGISTRY)
EVENT_TO_SEND_SECONDS = Histogram("syncd_event_to_send_seconds",
                                  "From a delivery's receipt to its action being sent",
                                  ["kind"], buckets=(.01, .025, .05, .1, .25, .5, 1, 5, 30, 300),
                                  registry=REGISTRY)
CONNECTION_LIMIT = Gauge("syncd_http_connection_limit",
                         "server.connection_limit: connections waitress serves at once",
                         registry=REGISTRY)
OPEN_CONNECTIONS = Gauge("syncd_http_connections_open",
                         "Client connections open now (at the limit, new ones wait)",
                         registry=REGISTRY)
WRITER_RESTARTS = Gauge("syncd_ingest_writer_restarts",
                        "Times the ingest writer thread had to be started again",
                        registry=REGISTRY)


def render() -> bytes:
    return generate_latest(REGISTRY)
