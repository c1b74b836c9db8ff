"""The web: section of the config: defaults, checks, and secrets never echoed."""
from __future__ import annotations

from pathlib import Path

import pytest

from syncd.config import SCHEMA, describe, load_settings, settings_from_text
from syncd.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_example_config_has_the_web_section_and_it_loads():
    """config.example.yaml documents web: and loads with an empty environment (no sign-in)."""
    s = load_settings(str(ROOT / "config.example.yaml"), env={})
    assert (s.web.base_url, s.web.discourse_connect_secret) == ("", "")
    assert s.web.chat_webhook_hosts == ("chat.googleapis.com",) and not s.web.secure_cookies
    assert "discourse_connect_secret" in (ROOT / "config.example.yaml").read_text()


def test_every_web_key_has_a_description():
    """config.SCHEMA carries (check, default, description) for each web key."""
    for key, spec in SCHEMA["web"].items():
        assert len(spec) == 3 and spec[2], key


def test_https_base_url_makes_cookies_secure():
    """https base_url: Secure cookies; the trailing slash is dropped."""
    s = settings_from_text("web: {base_url: 'https://syncd.example.edu/'}\n", env={})
    assert s.web.base_url == "https://syncd.example.edu" and s.web.secure_cookies


@pytest.mark.parametrize("secret, says", [
    ("short", "at least 16 characters"),
    ("has|a-pipe-in-it-0001", "without '|'"),
])
def test_a_bad_connect_secret_is_named_but_never_shown(secret, says):
    """A bad discourse_connect_secret: the key and the reason, not the value."""
    with pytest.raises(ConfigError) as err:
        settings_from_text(f"web: {{discourse_connect_secret: '{secret}'}}\n", env={})
    text = str(err.value)
    assert "web.discourse_connect_secret" in text and says in text and secret not in text


def test_a_base_url_must_be_http():
    """base_url: an http(s) URL or empty."""
    with pytest.raises(ConfigError, match="web.base_url"):
        settings_from_text("web: {base_url: syncd.example.edu}\n", env={})


def test_describe_mentions_the_web_without_secrets():
    """The start-up summary says whether sign-in is set, never the secret or SMTP password."""
    s = settings_from_text("web: {discourse_connect_secret: made-up-connect-secret-1, "
                           "smtp_password: made-up-smtp-pw}\n", env={})
    text = "\n".join(describe(s))
    assert "sign-in set" in text and "made-up" not in text


def test_templates_and_stylesheet_ship_as_package_data():
    """Every template and static file of the web pages matches setup.cfg's package_data."""
    import configparser
    from fnmatch import fnmatch
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    patterns = [p.strip() for p in cfg["options.package_data"]["syncd"].replace("\n", ",").split(",")
                if p.strip()]
    files = [p.relative_to(ROOT / "syncd").as_posix()
             for p in (ROOT / "syncd" / "web").rglob("*") if p.is_file() and p.suffix != ".py"
             and "__pycache__" not in p.parts]
    assert files and all(any(fnmatch(f, pat) for pat in patterns) for f in files), files


def test_subscribers_is_not_a_channel_name():
    """A channel named `subscribers` could never be reached (notify: subscribers alerts
    people): the config says so."""
    with pytest.raises(ConfigError, match="'subscribers' is reserved"):
        settings_from_text("channels:\n  subscribers: {type: log}\n", env={})
