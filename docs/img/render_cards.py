"""Render the Slack, Teams and Google Chat cards of one real ticket to PNGs (docs/img/).

The ticket comes from the recorded deliveries in webhooks/ (topic_created + post_created,
through syncd's own event parser and state machine); each channel type renders its card
as it sends it, then this script lays that card out in HTML approximating its client and
screenshots it with the distribution's headless Chromium:

    .venv/bin/python docs/img/render_cards.py     # writes docs/img/{slack,teams,gchat}-card.png
"""
from __future__ import annotations

import html
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
TZ = ZoneInfo("Asia/Kolkata")
FONT = "font-family: Lato, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif;"


def real_ticket() -> dict:
    from syncd.core.events import Event
    from syncd.core.tickets import apply
    from syncd.replay import read_recording
    ticket, at = None, None
    for name in ("topic_created", "post_created"):
        headers, body = read_recording(ROOT / "webhooks" / f"{name}.json")
        event = Event.from_delivery(headers, body)
        at = at or event.occurred_at
        ticket = apply(ticket, event, event.occurred_at or "2026-03-02T09:14:07Z").ticket
    data = ticket.as_dict()
    data.update(priority="urgent", category="support", tags=["printer", "duplex"],
                url=f"https://forum.example.com/t/{data['slug']}/{data['id']}")
    return {"channel": "it-urgent", "private": False, "ticket": data,
            "event": {"name": "topic_created", "at": data.get("created_at") or at},
            "text": f"New ticket #{data['id']} from @{data['author']}: {data['title']}"}


# --- Slack -------------------------------------------------------------------------------

def mrkdwn_html(text: str) -> str:
    """Enough of Slack's mrkdwn for the preview: links, *bold*, _italic_, > quotes."""
    lines = []
    for line in text.split("\n"):
        quote = line.startswith("&gt; ") or line.startswith("> ")
        line = line[5:] if line.startswith("&gt; ") else line[2:] if line.startswith("> ") else line
        line = re.sub(r"<(https?://[^|>]+)\|([^>]+)>", r'<a href="\1">\2</a>', line)
        line = re.sub(r"\*([^*]+)\*", r"<b>\1</b>", line)
        line = re.sub(r"(?<![\w])_([^_]+)_(?![\w])", r"<i>\1</i>", line)
        lines.append(f'<div class="quote">{line}</div>' if quote else line)
    return "<br>".join(lines).replace("</div><br>", "</div>")


def slack_html(message: dict) -> str:
    parts = []
    for b in message["blocks"]:
        if b["type"] == "section" and "text" in b:
            parts.append(f'<div class="sec">{mrkdwn_html(b["text"]["text"])}</div>')
        elif b["type"] == "section":
            cells = "".join(f'<div>{mrkdwn_html(f["text"])}</div>' for f in b["fields"])
            parts.append(f'<div class="fields">{cells}</div>')
        elif b["type"] == "context":
            parts.append(f'<div class="ctx">{" ".join(mrkdwn_html(e["text"]) for e in b["elements"])}</div>')
        elif b["type"] == "actions":
            parts.append("".join(f'<span class="btn">{html.escape(e["text"]["text"])}</span>' for e in b["elements"]))
    return f"""<html><body style="margin:0;background:#fff;{FONT}font-size:15px;color:#1d1c1d">
<style>.msg{{display:flex;padding:16px 20px}}.av{{width:36px;height:36px;border-radius:6px;background:#4a154b;
color:#fff;font-weight:bold;display:flex;align-items:center;justify-content:center;margin-right:10px}}
.sec{{margin:4px 0;line-height:1.45}}.fields{{display:grid;grid-template-columns:1fr 1fr;gap:8px 24px;margin:8px 0}}
.ctx{{color:#616061;font-size:12px;margin:6px 0}}.btn{{display:inline-block;border:1px solid #bbb;border-radius:4px;
padding:4px 12px;font-weight:bold;font-size:13px;margin-top:6px}}a{{color:#1264a3;text-decoration:none}}
.quote{{border-left:4px solid #ddd;padding-left:10px;color:#1d1c1d}}.app{{font-size:10px;background:#eee;
color:#555;padding:1px 3px;border-radius:2px;margin-left:4px}}</style>
<div class="msg"><div class="av">s</div><div style="flex:1"><div><b>syncd</b><span class="app">APP</span>
<span style="color:#616061;font-size:12px;margin-left:6px">9:14 AM</span></div>{''.join(parts)}</div></div>
</body></html>"""


# --- Teams -------------------------------------------------------------------------------

COLOURS = {"Attention": "#c4314b", "Warning": "#c87a00", "Accent": "#6264a7", "Default": "#242424"}


def teams_element(e: dict) -> str:
    if e["type"] == "TextBlock":
        return (f'<div style="color:{COLOURS.get(e.get("color"), "#242424")};font-weight:'
                f'{"600" if e.get("weight") == "Bolder" else "400"};font-size:13px">{html.escape(e["text"])}</div>')
    if e["type"] == "RichTextBlock":
        runs = []
        for r in e["inlines"]:
            style = "font-weight:600;" if r.get("weight") == "Bolder" else ""
            style += "font-size:18px;" if r.get("size") == "Large" else ""
            style += "font-style:italic;color:#616161;" if r.get("italic") else ""
            text = html.escape(r["text"]).replace("\n", "<br>")
            if r.get("selectAction"):
                text = f'<a style="color:#242424;text-decoration:none" href="#">{text}</a>'
            runs.append(f'<span style="{style}">{text}</span>')
        return f'<div style="margin:6px 0;line-height:1.4">{"".join(runs)}</div>'
    if e["type"] == "FactSet":
        rows = "".join(f'<tr><td style="font-weight:600;padding:2px 14px 2px 0">{html.escape(f["title"])}</td>'
                       f'<td>{html.escape(f["value"])}</td></tr>' for f in e["facts"])
        return f'<table style="font-size:14px;margin:6px 0;border-collapse:collapse">{rows}</table>'
    if e["type"] == "Container":
        return (f'<div style="background:#f5f5f5;padding:8px 12px;margin:8px -4px;font-size:14px">'
                f'{"".join(teams_element(i) for i in e["items"])}</div>')
    return ""


def teams_html(envelope: dict) -> str:
    card = envelope["attachments"][0]["content"]
    body = "".join(teams_element(e) for e in card["body"])
    actions = "".join(f'<span style="display:inline-block;border:1px solid #d1d1d1;border-radius:4px;'
                      f'padding:5px 14px;font-weight:600;font-size:14px">{html.escape(a["title"])}</span>'
                      for a in card.get("actions", []))
    return f"""<html><body style="margin:0;background:#f5f5f5;{FONT}color:#242424">
<div style="padding:16px 20px"><div style="font-size:12px;color:#616161;margin-bottom:4px">
<b style="color:#242424">Workflows</b> &nbsp;9:14 AM</div>
<div style="background:#fff;border-radius:6px;box-shadow:0 1px 2px rgba(0,0,0,.15);padding:14px 16px;max-width:560px">
{body}<div style="margin-top:10px">{actions}</div></div></div></body></html>"""


# --- Google Chat -------------------------------------------------------------------------

def gchat_html(message: dict) -> str:
    card = message["cardsV2"][0]["card"]
    parts = []
    for s in card["sections"]:
        if s.get("header"):
            parts.append(f'<div style="font-weight:500;color:#1f1f1f;margin:10px 0 4px">{html.escape(s["header"])}</div>')
        for w in s["widgets"]:
            if "decoratedText" in w:
                d = w["decoratedText"]
                parts.append(f'<div style="margin:6px 0"><div style="font-size:12px;color:#5f6368">'
                             f'{html.escape(d["topLabel"])}</div><div style="font-size:14px">{d["text"]}</div></div>')
            elif "textParagraph" in w:
                parts.append(f'<div style="font-size:14px;margin:6px 0;line-height:1.45">{w["textParagraph"]["text"]}</div>')
            elif "buttonList" in w:
                parts += [f'<span style="display:inline-block;color:#0b57d0;font-weight:500;font-size:14px;'
                          f'padding:8px 0">{html.escape(b["text"])}</span>' for b in w["buttonList"]["buttons"]]
        parts.append('<div style="border-top:1px solid #e3e3e3;margin:8px -16px"></div>')
    h = card["header"]
    return f"""<html><body style="margin:0;background:#fff;font-family:'Google Sans',Roboto,Arial,sans-serif;color:#1f1f1f">
<style>a{{color:#0b57d0;text-decoration:none}}</style>
<div style="padding:16px 20px;display:flex"><div style="width:32px;height:32px;border-radius:50%;background:#188038;
color:#fff;display:flex;align-items:center;justify-content:center;margin-right:10px">s</div><div style="flex:1">
<div style="font-size:14px"><b>syncd</b> <span style="font-size:11px;color:#5f6368">App · 9:14 AM</span></div>
<div style="font-size:14px;margin:4px 0 8px">{html.escape(message["text"])}</div>
<div style="border:1px solid #dadce0;border-radius:8px;padding:12px 16px;max-width:520px">
<div style="font-size:16px;font-weight:500">{html.escape(h["title"])}</div>
<div style="font-size:12px;color:#5f6368;margin-bottom:6px">{html.escape(h["subtitle"])}</div>
<div style="border-top:1px solid #e3e3e3;margin:8px -16px"></div>{"".join(parts[:-1])}</div></div></div></body></html>"""


def screenshot(page: str, png: Path, height: int) -> None:
    chromium = next((c for c in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(c).exists()), None)
    if chromium is None:
        sys.exit("Chromium is needed: apt-get install chromium")
    with tempfile.NamedTemporaryFile("w", suffix=".html", delete=False) as fh:
        fh.write(page)
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={png}", f"--window-size=720,{height}", f"file://{fh.name}"],
                   check=True, capture_output=True, timeout=120)
    Path(fh.name).unlink()
    print(f"wrote {png.relative_to(ROOT)}")


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from syncd.channels.gchat import message as chat_message
    from syncd.channels.slack import message as slack_message
    from syncd.channels.teams import card, envelope
    params = real_ticket()
    screenshot(slack_html(slack_message(params, TZ, "syncd-1-example")), OUT / "slack-card.png", 340)
    screenshot(teams_html(envelope(card(params, TZ))), OUT / "teams-card.png", 440)
    screenshot(gchat_html(chat_message(params, TZ)), OUT / "gchat-card.png", 630)


if __name__ == "__main__":
    main()
