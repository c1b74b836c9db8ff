"""Channel config: the contract's example of every type validates, each type keeps its own
keys in ``options``, and mistakes are file:line errors that never echo a secret."""
from __future__ import annotations

import pytest

from syncd.config import describe, settings_from_text
from syncd.errors import ConfigError

# The contract's "Channels (types)" example, as written there.
CONTRACT = """channels:
  staff:     {type: gchat, url: "${GCHAT_STAFF_WEBHOOK:-}"}
  it-urgent: {type: slack, url: "${SLACK_WEBHOOK:-}"}                 # or token: + channel: for threads
  it-teams:  {type: teams, url: "${TEAMS_WORKFLOW_URL:-}"}            # a Workflows webhook
  deans:     {type: email, to: [dean@example.edu], smtp: {host: smtp.example.edu, port: 587, starttls: true,
              username: "${SMTP_USER:-}", password: "${SMTP_PASSWORD:-}"}, from: helpdesk@example.edu}
  board:     {type: trello, key: "${TRELLO_KEY:-}", token: "${TRELLO_TOKEN:-}",
              lists: {urgent: LIST_ID, high: LIST_ID, normal: LIST_ID, low: LIST_ID}}
  queues:    {type: sqs, region: eu-west-1, queue_prefix: tickets-, fifo: false}   # tickets-urgent, …
  archive:   {type: s3, bucket: helpdesk-archive, prefix: tickets/}
  hook:      {type: webhook, url: https://example.org/hooks/syncd, secret: "${HOOK_SECRET:-}"}
"""


def test_the_contracts_example_validates_with_each_types_keys():
    """Every type of the contract's example loads; its own keys are in options."""
    s = settings_from_text(CONTRACT, env={})
    ch = s.channels
    assert ch["deans"].options["smtp"]["port"] == 587 and ch["deans"].options["to"] == ["dean@example.edu"]
    assert ch["board"].options["lists"]["urgent"] == "LIST_ID"
    assert ch["queues"].options["queue_prefix"] == "tickets-"
    assert ch["archive"].options["prefix"] == "tickets/"
    dry = {name for name, c in ch.items() if c.dry_run}
    assert dry == {"staff", "it-urgent", "it-teams", "board", "hook"}   # no secret set
    assert not ch["deans"].dry_run and not ch["queues"].dry_run and not ch["archive"].dry_run


def test_secrets_from_the_environment_configure_a_channel():
    """With the environment set, Slack, Trello and the webhook are configured, not dry-run."""
    env = {"SLACK_WEBHOOK": "https://hooks.slack.com/services/T/B/x", "TRELLO_KEY": "k", "TRELLO_TOKEN": "t",
           "HOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
    ch = settings_from_text(CONTRACT, env=env).channels
    assert not ch["it-urgent"].dry_run and not ch["board"].dry_run and not ch["hook"].dry_run


def test_check_never_prints_a_secret():
    """describe() names each channel's state, never its URL or token."""
    env = {"SLACK_WEBHOOK": "https://hooks.slack.com/services/T/B/secretpart", "TRELLO_TOKEN": "tok-secret"}
    text = "\n".join(describe(settings_from_text(CONTRACT, env=env)))
    assert "secretpart" not in text and "tok-secret" not in text
    assert "channel it-urgent: slack, configured" in text
    assert "channel queues: sqs, configured, needs syncd[aws]" in text


@pytest.mark.parametrize("text,expected", [
    ("channels:\n  m: {type: email, smtp: {host: h, port: 0}}\n",
     "c.yaml:2: 'channels.m.smtp.port' must be a port number"),
    ("channels:\n  b: {type: trello, lists: [a, b]}\n",
     "c.yaml:2: 'channels.b.lists' must be a mapping of priority: list id"),
    ("channels:\n  q: {type: sqs, fifo: yes please}\n", "c.yaml:2: 'channels.q.fifo' must be true or false"),
    ("channels:\n  a: {type: s3, statuses: [done]}\n",
     "'channels.a.statuses' must be a list whose items are one of open"),
    ("channels:\n  s: {type: slack, bucket: x}\n",
     "c.yaml:2: unknown key 'bucket' in channels.s (valid: api_url, channel,"),
    ("channels:\n  t: {type: trello, key: k, token: t, lists: {urgent: L}}\n",
     "give a list for every priority"),
])
def test_each_types_mistakes_name_file_line_and_key(text, expected):
    """A bad value of a type's own key is one clear line, like the rest of the config."""
    with pytest.raises(ConfigError) as err:
        settings_from_text(text, "c.yaml", env={})
    assert expected in str(err.value)


def test_a_bad_token_value_is_not_echoed():
    """A wrong type for a secret key says 'a hidden value', not the value."""
    with pytest.raises(ConfigError) as err:
        settings_from_text("channels:\n  b: {type: trello, token: [oops-secret]}\n", "c.yaml", env={})
    assert "oops-secret" not in str(err.value) and "a hidden value" in str(err.value)


def test_docs_describe_every_key_of_every_built_in_type():
    """docs/channels.md has a section per type and a row for each of its CONFIG keys."""
    from pathlib import Path
    from syncd import channels
    docs = (Path(__file__).resolve().parent.parent / "docs/channels.md").read_text()

    def keys(schema, prefix=""):
        for key, spec in schema.items():
            yield from keys(spec, f"{prefix}{key}.") if isinstance(spec, dict) else [prefix + key]
    for kind in ("gchat", "slack", "teams", "email", "trello", "sqs", "s3", "webhook"):
        assert f"## `{kind}`" in docs, kind
        for key in keys(getattr(channels.type_class(kind), "CONFIG", {})):
            assert f"| `{key}` |" in docs, f"{kind}.{key}"
    for picture in ("slack-card.png", "teams-card.png", "gchat-card.png"):
        assert f"img/{picture}" in docs
        assert (Path(__file__).resolve().parent.parent / "docs/img" / picture).exists()
