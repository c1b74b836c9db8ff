"""`syncd report`, `syncd tickets --breaching` and the SLA in `syncd ticket`, on real data."""
from __future__ import annotations

import json
from datetime import timedelta, timezone

from click.testing import CliRunner

from syncd import metrics
from syncd.cli import main
from syncd.clock import utcnow
from syncd.processor import Processor
from syncd.timers.report import build, quantile, refresh_gauges
from syncd.service import prepare
from syncd.store import deliveries
from syncd.store.db import transaction

from conftest import SECRET, sample_body, signed_sample

UTC = timezone.utc


def config(tmp_path, calendar="24x7"):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"database: {tmp_path / 'syncd.db'}\nrules: {tmp_path / 'none'}\n"
        f"discourse:\n  webhook_secret: {SECRET}\n  categories: [support]\n"
        "  category_map: {support: 5}\n  staff_groups: [support-team]\n"
        "calendars:\n  office: {timezone: UTC, hours: {mon-fri: ['09:00-17:00']}}\n"
        "slas:\n  - name: std\n    calendar: " + calendar + "\n    first_response: 30m\n"
        "    resolution: 2h\n")
    return cfg


def stamp(moment):
    return moment.isoformat().replace("+00:00", "Z")


def story(tmp_path, created, reply_after, ids):
    """Tickets created at `created`, answered by staff `reply_after` later (None: never)."""
    from syncd.config import load_settings
    settings = load_settings(str(config(tmp_path)), env={})
    store, _ = prepare(settings)
    p = Processor(settings, store)
    n = 0
    for tid, (start, after) in enumerate(zip(created, reply_after, strict=True), start=ids):
        names = ("topic_created", "post_created") + (("post_created_reply",) if after else ())
        for name in names:
            body = sample_body(name)
            key = "topic" if name == "topic_created" else "post"
            body[key]["topic_id" if key == "post" else "id"] = tid
            at = start + (after if name == "post_created_reply" else timedelta(0))
            body[key]["created_at"] = stamp(at)
            n += 1
            headers, raw = signed_sample(name, event_id=str(5000 + n), body=body)
            with transaction(store.db()) as conn:
                deliveries.store(conn, headers, raw, tid)
            while p.run_once(at + timedelta(seconds=1)):
                pass
    return settings, store


def test_quantile_interpolates_between_ranks():
    """Median and p90 by linear interpolation; nothing for no values."""
    assert quantile([1, 2, 3, 4], 0.5) == 2.5
    assert abs(quantile(list(range(1, 11)), 0.9) - 9.1) < 1e-9
    assert quantile([], 0.5) is None


def test_report_medians_and_attainment(tmp_path):
    """Replies after 10, 20 and 60 min: median 20 min; 2 of 3 met the 30 min target."""
    now = utcnow().replace(microsecond=0)
    created = [now - timedelta(hours=5, minutes=i) for i in range(3)]
    settings, store = story(tmp_path, created, [timedelta(minutes=m) for m in (10, 20, 60)], 100)
    data = build(store.db().conn, settings, now - timedelta(days=1), now)
    g = data["groups"]["all"]
    assert g["opened"] == 3 and g["first_response"]["count"] == 3
    assert abs(g["first_response"]["median_hours"] - 0.33) < 0.01
    row = next(r for r in data["sla"] if r["target"] == "first_response")
    assert (row["met"], row["breached"]) == (2, 1)
    refresh_gauges(store.db().conn, settings, now)
    text = metrics.render().decode()
    assert 'syncd_sla_attainment_ratio{policy="std",target="first_response"} 0.6667' in text
    assert 'syncd_report_tickets{kind="opened"} 3.0' in text


def test_report_cli_json_by_priority_and_bad_since(tmp_path):
    """--json --by priority prints one object; --since 4hrs names the valid form."""
    now = utcnow().replace(microsecond=0)
    story(tmp_path, [now - timedelta(hours=2)], [timedelta(minutes=5)], 200)
    cfg = str(tmp_path / "config.yaml")
    result = CliRunner().invoke(main, ["--config", cfg, "report", "--by", "priority", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["groups"]["normal"]["opened"] == 1
    result = CliRunner().invoke(main, ["--config", cfg, "report", "--since", "4hrs"])
    assert result.exit_code == 2 and "30m, 4h" in result.output
    result = CliRunner().invoke(main, ["--config", cfg, "report"])
    assert result.exit_code == 0 and "std" in result.output


def test_tickets_breaching_and_ticket_show_the_sla(tmp_path):
    """An unanswered ticket past 30 min is --breaching; ticket ID shows its policy and due."""
    now = utcnow().replace(microsecond=0)
    settings, store = story(tmp_path, [now - timedelta(hours=1), now - timedelta(minutes=5)],
                            [None, None], 300)
    cfg = str(tmp_path / "config.yaml")
    result = CliRunner().invoke(main, ["--config", cfg, "tickets", "--breaching", "--json"])
    assert result.exit_code == 0, result.output
    found = [json.loads(line) for line in result.output.splitlines()]
    assert [t["id"] for t in found] == [300]
    assert found[0]["sla"]["targets"]["first_response"]["status"] == "breached"
    result = CliRunner().invoke(main, ["--config", cfg, "ticket", "301"])
    assert "sla std (24x7): first response due" in result.output
    assert "timer sla_breached first_response" in result.output
