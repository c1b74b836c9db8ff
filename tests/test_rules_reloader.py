"""Hot reload: a bad edit keeps the old rules; changed() sees edits, new and removed files."""
from __future__ import annotations

import os

import pytest

from syncd.errors import RuleError
from syncd.rules.reloader import RulesHolder

GOOD = "rules:\n  - name: {name}\n    on: topic_created\n    then: [{{notify: staff}}]\n"


def write(path, text, bump=0):
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + bump * 1_000_000_000))


def test_reload_keeps_old_rules_on_error(tmp_path):
    """A reload with any problem keeps the last good rules and records why."""
    f = tmp_path / "10-a.yaml"
    write(f, GOOD.format(name="a"))
    holder = RulesHolder(str(tmp_path), ["staff"], {})
    old = holder.current
    write(f, GOOD.format(name="a").replace("staff", "nobody"), bump=1)
    assert holder.changed()
    assert holder.reload() is False
    assert holder.current is old and "unknown channel 'nobody'" in holder.error[0]
    assert not holder.changed()          # a broken file is reported once, not every poll


def test_reload_picks_up_good_edits(tmp_path):
    """A good edit replaces the rules."""
    f = tmp_path / "10-a.yaml"
    write(f, GOOD.format(name="a"))
    holder = RulesHolder(str(tmp_path), ["staff"], {})
    assert not holder.changed()
    write(tmp_path / "20-b.yaml", GOOD.format(name="b"), bump=1)
    assert holder.changed() and holder.reload() is True
    assert [r.name for r in holder.current.rules] == ["a", "b"] and holder.error == []


def test_first_load_fails_loudly_and_missing_path_means_no_rules(tmp_path):
    """At start a bad rules file raises (serve exits 2); a missing path means no rules yet."""
    write(tmp_path / "10-a.yaml", "rules: [")
    with pytest.raises(RuleError):
        RulesHolder(str(tmp_path), ["staff"], {})
    holder = RulesHolder(str(tmp_path / "later"), ["staff"], {})
    assert holder.current is None and not holder.changed()
    (tmp_path / "later").mkdir()
    write(tmp_path / "later" / "a.yaml", GOOD.format(name="a"))
    assert holder.changed() and holder.reload() and len(holder.current) == 1
