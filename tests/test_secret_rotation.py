"""`syncd secret show` and `syncd secret rotate`: the old secret works for the grace period."""
from __future__ import annotations

from datetime import timedelta

from click.testing import CliRunner

from syncd.cli import main
from syncd.clock import utcnow
from syncd.inbox import secret as secrets_
from syncd.inbox.http import Receiver, create_app
from syncd.inbox.secret import SecretKeeper
from syncd.replay import signed
from syncd.service import prepare
from syncd.store.db import get_setting

from conftest import sample


def config(tmp_path, secret: str = "") -> str:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"database: {tmp_path / 'syncd.db'}\nrules: {tmp_path / 'none'}\n"
                   f"discourse: {{webhook_secret: '{secret}', category_map: {{support: 5}}}}\n")
    return str(cfg)


def run(cfg: str, *args):
    return CliRunner().invoke(main, ["--config", cfg, *args])


def test_show_prints_the_generated_secret_again(tmp_path):
    """The secret generated at first start can be printed again, with where it comes from."""
    cfg = config(tmp_path)
    first = run(cfg, "secret", "show")
    assert first.exit_code == 0, first.output
    secret = first.stdout.strip()
    assert len(secret) >= 32 and "from the database" in first.stderr
    assert run(cfg, "secret", "show").stdout.strip() == secret


def test_show_names_the_config_when_the_secret_comes_from_there(tmp_path):
    """A secret set in the config is shown, and the command says so."""
    out = run(config(tmp_path, "config-secret-12345"), "secret", "show")
    assert out.stdout.strip() == "config-secret-12345" and "from config" in out.stderr


def test_rotate_makes_a_new_secret_and_keeps_the_old_for_the_grace(tmp_path):
    """rotate --grace 2h: a new secret, the old one remembered until two hours from now."""
    cfg = config(tmp_path)
    old = run(cfg, "secret", "show").stdout.strip()
    out = run(cfg, "secret", "rotate", "--grace", "2h")
    assert out.exit_code == 0, out.output
    new = out.stdout.strip()
    assert new != old and run(cfg, "secret", "show").stdout.strip() == new
    assert "accepted until" in out.stderr


def test_rotate_refuses_a_secret_from_the_config(tmp_path):
    """The config's secret is not syncd's to change: exit 2 saying where to change it."""
    out = run(config(tmp_path, "config-secret-12345"), "secret", "rotate")
    assert out.exit_code == 2 and "change it there" in out.output


def test_bad_grace_is_a_clear_error(tmp_path):
    """--grace takes a duration such as 24h."""
    out = run(config(tmp_path), "secret", "rotate", "--grace", "soon")
    assert out.exit_code == 2 and "a duration such as" in out.output


def test_receiver_accepts_the_old_secret_until_the_grace_ends(tmp_path):
    """Signed with the previous secret: 202 during the grace, 401 after; the new one always."""
    from syncd.config import load_settings
    settings = load_settings(config(tmp_path), env={})
    store, old = prepare(settings)
    db = store.db()
    new, until = secrets_.rotate(settings, db, timedelta(hours=1))
    assert get_setting(db, secrets_.PREVIOUS) == old
    clock = {"now": utcnow()}
    keeper = SecretKeeper(settings, store, clock=lambda: clock["now"], refresh_seconds=0)
    client = create_app(Receiver(settings, store, new, secrets=keeper)).test_client()
    headers, raw = sample("topic_created")

    def post(secret, event_id):
        h = signed({**headers, "X-Discourse-Event-Id": event_id}, raw, secret)
        return client.post("/webhooks/discourse", data=raw, headers=h).status_code

    assert post(old, "1") == 202
    assert post(new, "2") in (200, 202)
    clock["now"] += timedelta(hours=1, seconds=1)
    assert post(old, "3") == 401
    assert post("not-the-secret-at-all", "4") == 401


def test_a_running_receiver_takes_the_new_secret_at_once(tmp_path):
    """Rotated by the CLI while serve runs: the first delivery signed with the new secret is 202."""
    from syncd.config import load_settings
    settings = load_settings(config(tmp_path), env={})
    store, old = prepare(settings)
    keeper = SecretKeeper(settings, store, refresh_seconds=3600)   # no periodic re-read
    client = create_app(Receiver(settings, store, old, secrets=keeper)).test_client()
    headers, raw = sample("topic_created")
    assert client.post("/webhooks/discourse", data=raw, headers=signed(headers, raw, old)
                       ).status_code == 202
    keeper._read_at -= 1.0                    # the copy is a second old (no sleeping)
    new, _ = secrets_.rotate(settings, store.db(), timedelta(0))
    h = signed({**headers, "X-Discourse-Event-Id": "77"}, raw + b" ", new)
    assert client.post("/webhooks/discourse", data=raw + b" ", headers=h).status_code == 202
