"""Config values as admins write them: blank means not set, URLs shown with secrets masked."""
from __future__ import annotations

import pytest

from syncd.config import describe, settings_from_text
from syncd.errors import ConfigError
from syncd.redact import mask_url


def test_blank_optional_value_means_not_set():
    """`url:` with nothing after it (YAML null) is the default, not 'must be a string'."""
    s = settings_from_text("discourse:\n  url:\n  api_key:\n  categories:\n"
                           "channels:\n  staff: {type: gchat, url: }\n", "c.yaml", env={})
    assert s.discourse.url == "" and s.discourse.dry_run
    assert s.discourse.categories == ("support",)
    assert s.channels["staff"].url == "" and s.channels["staff"].dry_run


def test_blank_section_means_its_defaults():
    """`server:` alone gives the server defaults."""
    s = settings_from_text("server:\nbackup:\n", "c.yaml", env={})
    assert s.server.port == 8080 and s.backup.dir == ""


def test_wrong_url_is_shown_with_its_query_masked():
    """A wrong chat URL is shown so the mistake can be seen, but not its key or token."""
    with pytest.raises(ConfigError) as err:
        settings_from_text("channels:\n  staff: {type: gchat, url: "
                           "'htps://chat.googleapis.com/v1/spaces/AAAA/messages"
                           "?key=KEY123&token=TOKEN456'}\n", "c.yaml", env={})
    text = str(err.value)
    assert "htps://chat.googleapis.com/v1/spaces/AAAA/***?key=***&token=***" in text
    assert "KEY123" not in text and "TOKEN456" not in text


def test_mask_url_hides_passwords_fragments_and_token_paths():
    """Slack keeps its secret in the path; basic-auth passwords and fragments are masked too."""
    assert mask_url("https://hooks.slack.com/services/T0123/B0456/abcdefghijklmnopqrstuvwx") \
        == "https://hooks.slack.com/services/T0123/B0456/***"
    assert mask_url("https://bob:pw@example.org:8443/x?sig=1#frag") \
        == "https://bob:***@example.org:8443/x?sig=***#***"
    assert mask_url("https://forum.example.edu") == "https://forum.example.edu"


def test_describe_shows_channel_urls_masked():
    """`syncd check` names where a channel sends, never its token."""
    s = settings_from_text("channels:\n  staff: {type: gchat, url: 'https://chat.googleapis.com"
                           "/v1/spaces/AAAA/messages?key=K&token=SECRET'}\n", "c.yaml", env={})
    line = next(x for x in describe(s) if x.startswith("channel staff"))
    assert "spaces/AAAA/***?key=***&token=***" in line and "SECRET" not in line


def test_empty_variable_for_a_number_means_not_set():
    """`port: ${PORT:-}` with PORT unset is the default port, not 'must be a port number'."""
    s = settings_from_text("server: {port: '${PORT:-}', threads: '${THREADS:-}'}\n", env={})
    assert (s.server.port, s.server.threads) == (8080, 8)
