"""Import benchmark: `syncd import freshdesk` of a generated export into a stand-in that
enforces an admin-API budget (a rolling minute, 429 past it, as Discourse does).

    python bench/bench_import.py [--scale 0.04] [--rate 6000] [--workers 4]
    SYNCD_BENCH_IMPORT_FULL=1 python bench/bench_import.py     # the seed's size

The seed's size is 10,835 users and 34,282 tickets with ~4 notes each (≈ 182,000 items).
By default the bench runs that shape scaled by ``--scale`` (0.04: ≈ 7,300 items, about a
minute and a half at 6,000 calls a minute) so that ``make bench`` stays short; the full size
at 6,000/min takes about half an hour (raise ``--rate`` or ``SYNCD_BENCH_IMPORT_RATE``).

Prints:
- ``import_calls_per_item``: admin-API calls the stand-in received over users + topics +
  posts + attachment uploads created (goal 1.00; preflight, site settings set and
  restored, the staff group and the bulk closes are the rest);
- ``import_budget_use``: calls over what the budget allowed between the first and the last
  call (goal ≥ 0.95);
- ``import_peak_rss_mb``: the import process's peak resident memory (goal < 150 MB);
- ``import_estimate_hours_at_60`` / ``_at_600``: the seed's size at those budgets, from the
  measured calls per item.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from freshdesk_export import ExportSize, write_export  # noqa: E402
from standins.discourse_import import ImportDiscourseStandIn  # noqa: E402

SEED = {"users": 10835, "tickets": 34282, "notes_mean": 4.0}
KEY = "bench-import-key-not-real"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    full = os.environ.get("SYNCD_BENCH_IMPORT_FULL") == "1"
    parser.add_argument("--scale", type=float, default=1.0 if full else 0.04)
    parser.add_argument("--rate", type=float,
                        default=float(os.environ.get("SYNCD_BENCH_IMPORT_RATE", "6000")))
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "export"
        size = ExportSize(users=max(20, int(SEED["users"] * args.scale)),
                          agents=max(3, int(120 * args.scale)),
                          companies=max(2, int(400 * args.scale)),
                          tickets=max(20, int(SEED["tickets"] * args.scale)),
                          notes_mean=SEED["notes_mean"], seed=1515)
        counts = write_export(folder, size)
        items = counts["users"] + counts["tickets"] + counts["notes"] + counts["attachments"]
        print(f"# export: {counts['users']} users, {counts['tickets']} tickets, {counts['notes']} "
              f"notes ({items} items, scale {args.scale:g}); budget {args.rate:g}/min; "
              "the machine is shared, so time-bound figures vary", flush=True)
        with ImportDiscourseStandIn(api_key=KEY, per_minute=int(args.rate)) as forum:
            cfg = Path(tmp) / "config.yaml"
            cfg.write_text(f"database: {Path(tmp) / 'syncd.db'}\nrules: {Path(tmp) / 'none'}\n"
                           f"log_format: json\ndiscourse:\n  url: {forum.base_url}\n"
                           f"  api_key: {KEY}\n  categories: [support]\n"
                           "  staff_groups: [support-agents]\n")
            started = time.monotonic()
            proc = subprocess.Popen(
                [sys.executable, "-m", "syncd", "--config", str(cfg), "import", "freshdesk",
                 "--export", str(folder), "--set-site-settings", "--calls-per-minute",
                 f"{args.rate:g}", "--workers", str(args.workers)],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)})
            output = proc.stdout.read()
            _, status, usage = os.wait4(proc.pid, 0)
            elapsed = time.monotonic() - started
            if os.waitstatus_to_exitcode(status) != 0:
                print(output[-3000:])
                print("import_failed: 1")
                return 1
            got = forum.imported()
            uploads = len(forum.uploads)
            created = len(got["users"]) + len(got["topics"]) + len(got["notes"]) + uploads
            calls = len(forum.log)
            window = (forum.last_at - forum.first_at) if forum.first_at else elapsed
    per_item = calls / max(1, created)
    budget_use = calls / (window * args.rate / 60 + 1)
    seed_items = SEED["users"] + SEED["tickets"] * (1 + SEED["notes_mean"])
    print(f"import_items_created: {created}/{items} (users, topics, posts and {uploads} uploads)")
    print(f"import_calls: {calls}")
    print(f"import_calls_per_item: {per_item:.3f}")
    print(f"import_budget_use: {budget_use:.3f}")
    print(f"import_429s: {forum.rejected_429}")
    print(f"import_peak_rss_mb: {usage.ru_maxrss / 1024:.1f}")
    print(f"import_seconds: {elapsed:.1f}")
    print(f"import_estimate_hours_at_60: {seed_items * per_item / 60 / 60:.1f}")
    print(f"import_estimate_hours_at_600: {seed_items * per_item / 600 / 60:.1f}")
    return 0 if created == items else 1


if __name__ == "__main__":
    sys.exit(main())
