# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""The status page: one self-contained HTML file from status.build()'s report.

Why hand-written HTML and not a templating library: the page must open from disk and as an AWX
artifact with nothing else (no fonts, scripts, images or styles from anywhere), so it is one string
with inline CSS and a few lines of inline JavaScript. A Content-Security-Policy meta tag forbids every
fetch (``default-src 'none'``) and allows only this page's own style and script, by their sha256, so
even a name crafted to look like markup could not load anything: and every text is escaped anyway.

The page works without JavaScript (a table in the worst-first order, counts at the top); the script
only adds sorting by any column and filtering by provider and state. Both are kept in the address's
fragment (``#sort=next_due&dir=desc&provider=vault&state=overdue``) so a link shows the same view.
"""
from __future__ import annotations

import base64
import hashlib
import html
from typing import Any, Dict, List, Mapping

from ansible_collections.vibebox.secrets.plugins.module_utils.core.status import STATE_TITLES, STATES

#: (key, title): the table's columns, in order; docs/status-page.md explains each
COLUMNS = (
    ("state", "State"),
    ("provider", "Provider"),
    ("name", "Secret"),
    ("version", "Version"),
    ("age_days", "Age (days)"),
    ("last_rotation", "Last rotation"),
    ("next_due", "Next due"),
    ("grace", "Grace"),
    ("expires_at", "Expires"),
    ("rotated_by", "Rotated by"),
    ("violations", "Compliance"),
    ("events", "Last audit events"),
)
COUNTERS = (("overdue", "overdue"), ("due", "due within {soon} days"), ("grace", "in grace"),
            ("expired", "expired"), ("failing", "failing compliance"))

STYLE = """
body{font-family:"DejaVu Sans",Arial,sans-serif;margin:1.5em;color:#1d2329;background:#fff}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}
.meta{color:#5a6672;margin:0 0 1em}
.counts{display:flex;flex-wrap:wrap;gap:.6em;padding:0;margin:0;list-style:none}
.counts li{border:1px solid #ccd3da;border-radius:6px;padding:.5em .9em;min-width:7em}
.counts b{display:block;font-size:1.6em}
.counts .hot{border-color:#c62828;background:#fdecea}.counts .warm{border-color:#1565c0;background:#e8f0fb}
table{border-collapse:collapse;width:100%;font-size:.86em}
th,td{border-bottom:1px solid #dde2e7;padding:.35em .5em;text-align:left;vertical-align:top}
th{background:#f1f4f7;white-space:nowrap}
th button{font:inherit;font-weight:bold;border:0;background:none;cursor:pointer;padding:0}
th[aria-sort=ascending] button::after{content:" \\25B2"}th[aria-sort=descending] button::after{content:" \\25BC"}
td.num{text-align:right}
.st{display:inline-block;border-radius:4px;padding:0 .4em;white-space:nowrap}
.st-expired,.st-overdue{background:#c62828;color:#fff}.st-failing{background:#ef6c00;color:#fff}
.st-grace{background:#1565c0;color:#fff}.st-due{background:#f9a825}.st-ok{background:#2e7d32;color:#fff}
ul.v,ul.e{margin:0;padding-left:1.1em}.bad{color:#c62828}
form{margin:.5em 0}form label{margin-right:1em}
.empty{color:#5a6672;font-style:italic}
"""

SCRIPT = """
(function(){
var table=document.getElementById('secrets'),body=table.tBodies[0],form=document.getElementById('filters');
var heads=table.tHead.rows[0].cells,view={};
function read(){view={};location.hash.replace(/^#/,'').split('&').forEach(function(p){
var kv=p.split('=');if(kv[0])view[decodeURIComponent(kv[0])]=decodeURIComponent(kv[1]||'');});}
function write(){var parts=[];for(var k in view){if(view[k])parts.push(k+'='+encodeURIComponent(view[k]));}
history.replaceState(null,'','#'+parts.join('&'));}
function apply(){var rows=Array.prototype.slice.call(body.rows),col=-1,dir=view.dir==='desc'?-1:1;
for(var i=0;i<heads.length;i++){var on=heads[i].dataset.key===view.sort;if(on)col=i;
heads[i].setAttribute('aria-sort',on?(dir<0?'descending':'ascending'):'none');}
if(col>=0){rows.sort(function(a,b){var x=a.cells[col].dataset.sort,y=b.cells[col].dataset.sort,
n=/^-?[0-9]+([.][0-9]+)?$/;if(n.test(x)&&n.test(y))return (parseFloat(x)-parseFloat(y))*dir;
return x<y?-dir:x>y?dir:0;});rows.forEach(function(r){body.appendChild(r);});}
var shown=0;rows.forEach(function(r){var ok=(!view.provider||r.dataset.provider===view.provider)&&
(!view.state||r.dataset.states.split(' ').indexOf(view.state)>=0);r.hidden=!ok;if(ok)shown++;});
document.getElementById('shown').textContent=shown+' of '+rows.length+' secrets shown';
form.provider.value=view.provider||'';form.state.value=view.state||'';}
for(var i=0;i<heads.length;i++){heads[i].querySelector('button').addEventListener('click',function(ev){
var key=ev.currentTarget.parentNode.dataset.key;view.dir=(view.sort===key&&view.dir!=='desc')?'desc':'asc';
view.sort=key;write();apply();});}
form.addEventListener('change',function(){view.provider=form.provider.value;view.state=form.state.value;write();apply();});
form.hidden=false;read();apply();window.addEventListener('hashchange',function(){read();apply();});
})();
"""


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _when(text: Any) -> str:
    return "-" if not text else str(text)[:16].replace("T", " ")


def _cell(row: Mapping[str, Any], key: str) -> str:
    """One <td>: the text people read and, in data-sort, the key the script sorts by."""
    sort: Any
    css = ""
    if key == "state":
        shown = " ".join(f'<span class="st st-{_e(s)}">{_e(STATE_TITLES.get(s, s))}</span>' for s in row["states"])
        sort = STATES.index(row["state"]) if row["state"] in STATES else len(STATES)
    elif key == "age_days":
        age = row.get("age_days")
        shown, sort, css = ("-" if age is None else f"{float(age):.1f}"), (-1 if age is None else age), " class=num"
    elif key == "version":
        shown = _e(row.get("version") or "-")
        version = str(row.get("version") or "")
        sort = int(version) if version.isdigit() else version
    elif key in ("last_rotation", "next_due", "expires_at"):
        shown, sort = _e(_when(row.get(key))), row.get(key) or "9999"
        if key == "next_due" and row.get("due_from"):
            shown += f'<br><small>{_e(row["due_from"])}</small>'
    elif key == "grace":
        state = row.get("grace_state") or "none"
        shown = {"until": f"until {_e(_when(row.get('grace_until')))}", "ended": f"ended {_e(_when(row.get('grace_until')))}"}.get(state, "-")
        sort = row.get("grace_until") or ""
    elif key == "violations":
        items = row.get("violations") or []
        shown = "ok" if not items else '<ul class="v">' + "".join(f'<li class="bad">{_e(v)}</li>' for v in items) + "</ul>"
        sort = len(items)
    elif key == "events":
        events = row.get("events") or []
        shown = "-" if not events else '<ul class="e">' + "".join(
            f'<li{"" if e.get("ok") else " class=bad"}>{_e(e.get("op"))} {_e(_when(e.get("ts")))} '
            f'{"ok" if e.get("ok") else "FAILED" + (" (" + _e(e.get("error_kind")) + ")" if e.get("error_kind") else "")}'
            f' by {_e(e.get("actor") or "?")}</li>' for e in events) + "</ul>"
        sort = (events[0].get("ts") or "") if events else ""
    else:
        shown, sort = _e(row.get(key) or "-"), row.get(key) or ""
    return f'<td{css} data-sort="{_e(sort)}">{shown}</td>'


def render(report: Mapping[str, Any], title: str = "vibebox.secrets status") -> str:
    """The whole page as one string (UTF-8 text, no external reference of any kind)."""
    counts: Dict[str, int] = report.get("counts") or {}
    soon = report.get("soon_days", 7)
    rows: List[Mapping[str, Any]] = report.get("secrets") or []
    providers = report.get("providers") or sorted({row["provider"] for row in rows})
    csp = f"default-src 'none'; style-src {_sha256(STYLE)}; script-src {_sha256(SCRIPT)}; img-src 'none'; form-action 'none'; base-uri 'none'"
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_e(csp)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">Generated {_e(_when(report.get("generated_at")))} UTC from {_e(", ".join(providers) or "no provider")}'
        f' - {counts.get("total", len(rows))} secrets. Metadata only: no value is ever on this page.</p>',
        '<ul class="counts" id="counts">',
    ]
    for key, label in COUNTERS:
        number = int(counts.get(key, 0))
        css = "" if not number else " class=warm" if key in ("grace", "due") else " class=hot"
        out.append(f'<li id="count-{key}"{css}><b>{number}</b>{_e(label.format(soon=soon))}</li>')
    out.append("</ul>")
    out.append('<h2>Secrets</h2><form id="filters" hidden>'
               '<label>Provider <select name="provider"><option value="">all</option>'
               + "".join(f'<option value="{_e(p)}">{_e(p)}</option>' for p in providers)
               + '</select></label><label>State <select name="state"><option value="">all</option>'
               + "".join(f'<option value="{_e(s)}">{_e(STATE_TITLES[s])}</option>' for s in STATES)
               + '</select></label><span id="shown"></span></form>')
    out.append('<table id="secrets"><thead><tr>'
               + "".join(f'<th data-key="{key}" aria-sort="none"><button type="button">{_e(label)}</button></th>'
                         for key, label in COLUMNS)
               + "</tr></thead><tbody>")
    for row in rows:
        out.append(f'<tr data-provider="{_e(row["provider"])}" data-states="{_e(" ".join(row["states"]))}">'
                   + "".join(_cell(row, key) for key, _label in COLUMNS) + "</tr>")
    out.append("</tbody></table>")
    if not rows:
        out.append('<p class="empty">No secret found.</p>')
    out.append("<h2>Last failed operations</h2>")
    failed = report.get("failed_operations") or []
    if failed:
        out.append('<table id="failed"><thead><tr><th>Time</th><th>Operation</th><th>Provider</th><th>Secret</th>'
                   "<th>Error</th><th>Actor</th></tr></thead><tbody>")
        for entry in failed:
            names = entry.get("name") or ", ".join(entry.get("names") or []) or "-"
            out.append(f'<tr><td>{_e(_when(entry.get("ts")))}</td><td>{_e(entry.get("op"))}</td><td>{_e(entry.get("provider"))}</td>'
                       f'<td>{_e(names)}</td><td>{_e(entry.get("error") or "-")}</td><td>{_e(entry.get("actor") or "-")}</td></tr>')
        out.append("</tbody></table>")
    else:
        out.append('<p class="empty" id="no-failures">No failed operation in the audit log tail.</p>')
    out.append(f"<script>{SCRIPT}</script></body></html>")
    return "\n".join(out) + "\n"
