"""HTML templates and the stylesheet of the review page.

Kept in Python so the package needs no data files; plain server-rendered HTML, no
JavaScript and no external assets (review machines are often offline). Jinja2 escapes every
value.
"""

from __future__ import annotations

STYLESHEET = """
:root { --ink:#1d2733; --muted:#5b6673; --line:#d5dbe1; --accent:#0b5cad; --ok:#1f7a3d;
        --warn:#9a6700; --bad:#b42318; --bg:#f6f8fa; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
       color:var(--ink); background:#fff; }
header { display:flex; align-items:center; gap:1.5rem; padding:.6rem 1.2rem;
         background:var(--ink); color:#fff; }
header a { color:#fff; text-decoration:none; font-weight:600; }
header .who { margin-left:auto; font-size:.9rem; opacity:.85; }
header form { margin:0; }
main { padding:1rem 1.2rem 2rem; max-width:1200px; }
h1 { font-size:1.35rem; margin:.2rem 0 .8rem; }
h2 { font-size:1.05rem; margin:1.4rem 0 .5rem; }
table { border-collapse:collapse; width:100%; }
th, td { text-align:left; padding:.35rem .5rem; border-bottom:1px solid var(--line);
         vertical-align:top; }
th { background:var(--bg); font-weight:600; font-size:.85rem; color:var(--muted); }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
a { color:var(--accent); }
.progress { display:flex; align-items:center; gap:.7rem; margin:.3rem 0 1rem; }
.progress progress { width:320px; height:14px; accent-color:var(--ok); }
.badge { display:inline-block; padding:0 .45rem; border-radius:9px; font-size:.8rem;
         font-weight:600; border:1px solid currentColor; }
.tier-high { color:var(--ok); } .tier-medium { color:var(--warn); } .tier-low { color:var(--bad); }
.status-needs_review { color:#8b1fa9; } .status-deferred { color:var(--accent); }
.status-approved { color:var(--ok); } .status-no_equivalent { color:#0e7490; }
.status-pending { color:var(--muted); }
.notice { padding:.6rem .8rem; border-left:4px solid var(--accent); background:var(--bg);
          margin:.6rem 0; }
.notice.warn { border-color:#8b1fa9; } .notice.error { border-color:var(--bad); }
dl.meta { display:grid; grid-template-columns:max-content 1fr; gap:.2rem 1rem; margin:0; }
dl.meta dt { color:var(--muted); }
dl.meta dd { margin:0; }
.cols { display:grid; grid-template-columns:1fr 1fr; gap:1.5rem; }
ul.evidence { margin:0; padding-left:1.1rem; color:var(--muted); font-size:.9rem; }
meter { width:70px; vertical-align:middle; }
button { font:inherit; padding:.35rem .8rem; border-radius:5px; border:1px solid var(--line);
         background:#fff; cursor:pointer; }
button.primary { background:var(--ok); border-color:var(--ok); color:#fff; }
button.danger { background:#fff; border-color:var(--bad); color:var(--bad); }
.actions { display:flex; flex-wrap:wrap; gap:.6rem; align-items:flex-end; margin-top:.8rem; }
textarea, input[type=text], input[type=password], input[type=number] {
  font:inherit; padding:.35rem .5rem; border:1px solid var(--line); border-radius:5px; }
textarea { width:100%; min-height:3.2rem; }
.muted { color:var(--muted); } .small { font-size:.85rem; }
details { margin-top:1.5rem; }
.login { max-width:380px; margin:4rem auto; }
.login label { display:block; margin:.8rem 0 .2rem; }
.login input { width:100%; }
kbd { font-size:.8rem; border:1px solid var(--line); border-radius:3px; padding:0 .25rem; }
"""

BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}Mapping review{% endblock %} · fedcrm</title>
<link rel="stylesheet" href="/static/review.css"></head>
<body>
<header><a href="/">fedcrm mapping review</a>
{% if reviewer %}<span class="who">signed in as <strong>{{ reviewer }}</strong></span>
<form method="post" action="/logout"><input type="hidden" name="csrf" value="{{ csrf }}">
<button type="submit">Sign out</button></form>{% endif %}
</header>
<main>
{% if progress %}
<div class="progress">
 <progress id="progress" value="{{ progress.decided }}" max="{{ progress.total or 1 }}"
   aria-label="review progress"></progress>
 <span id="progress-text">{{ progress.decided }} of {{ progress.total }} fields decided
 ({{ '%.0f' % (progress.fraction * 100) }}%)</span>
</div>
{% endif %}
{% if message %}<p class="notice" id="message">{{ message }}</p>{% endif %}
{% if error %}<p class="notice error" id="error" role="alert">{{ error }}</p>{% endif %}
{% block content %}{% endblock %}
</main></body></html>
"""

LOGIN = """{% extends "base.html" %}
{% block title %}Sign in{% endblock %}
{% block content %}
<form class="login" method="post" action="/login">
 <h1>Sign in to the mapping review</h1>
 <p class="muted small">The token was printed by <code>fedcrm review serve</code>.</p>
 <label for="token">Login token</label>
 <input type="password" id="token" name="token" value="{{ token or '' }}" required
        autocomplete="off">
 <label for="reviewer">Your name (recorded with every decision)</label>
 <input type="text" id="reviewer" name="reviewer" value="{{ default_reviewer }}" required
        maxlength="200">
 <p><button class="primary" type="submit">Sign in</button></p>
</form>
{% endblock %}
"""

QUEUE = """{% extends "base.html" %}
{% block title %}Queue{% endblock %}
{% block content %}
<h1>Review queue</h1>
<p class="muted small">Changed fields first, then low confidence × high downstream impact;
deferred fields last.
{% for org_id in orgs %}{% if loop.first %} Org:
<a href="/">all</a>{% endif %} ·
<a href="/?org={{ org_id | urlencode }}">{{ org_id }}</a>{% endfor %}
</p>
{% if items %}
<table id="queue">
<thead><tr><th class="num">#</th><th>Org</th><th>Field</th><th>Label</th><th>Proposal</th>
<th class="num">Confidence</th><th class="num">Impact</th><th>Status</th></tr></thead>
<tbody>
{% for item in items %}
<tr>
 <td class="num">{{ loop.index }}</td><td>{{ item.org }}</td>
 <td><a href="/field/{{ item.id }}">{{ item.object }}.{{ item.field }}</a></td>
 <td>{{ item.label or '' }}</td>
 <td>{{ proposal(item) }}</td>
 <td class="num">{{ '%.2f' % item.confidence }}
   <span class="badge tier-{{ item.tier.value }}">{{ item.tier.value }}</span></td>
 <td class="num">{{ '%g' % item.impact }}</td>
 <td><span class="status-{{ item.status.value }}">
   {{ item.status.value.replace('_', ' ') }}</span></td>
</tr>
{% endfor %}
</tbody></table>
{% if truncated %}<p class="muted small">Showing the first {{ items | length }}.</p>{% endif %}
{% else %}
<p class="notice" id="empty">Nothing left to review. Export the approved mapping with
<code>fedcrm review export</code>.</p>
{% endif %}
<details>
<summary>Accept confident proposals in bulk</summary>
<form method="post" action="/auto-accept" class="actions">
 <input type="hidden" name="csrf" value="{{ csrf }}">
 <label>Confidence at least <input type="number" name="threshold" min="0.5" max="1"
   step="0.01" value="0.95" required></label>
 <label><input type="checkbox" name="confirm" value="yes"> I accept every pending proposal at
   or above this confidence without looking at each one</label>
 <button type="submit">Auto-accept</button>
</form>
</details>
<p class="small"><a href="/audit.jsonl">Download the audit log (JSON lines)</a></p>
{% endblock %}
"""

FIELD = """{% extends "base.html" %}
{% block title %}{{ view.org }} {{ view.object }}.{{ view.field }}{% endblock %}
{% block content %}
<p class="small"><a href="/">Queue</a> › {{ view.org }} › {{ view.object }}</p>
<h1 id="field-name">{{ view.object }}.{{ view.field }}
 <span class="badge status-{{ view.status.value }}" id="field-status">
 {{ view.status.value.replace('_', ' ') }}</span></h1>
{% if view.prior_decision %}
<p class="notice warn" id="changed">This field's metadata changed after
 {{ view.prior_decision.reviewer }} decided <strong>{{ view.prior_decision.action.value }}
 {{ view.prior_decision.concept or view.prior_decision.block or '(no concept)' }}</strong>
 on {{ view.prior_decision.decided_at[:10] }}. Please review it again.</p>
{% endif %}
<div class="cols">
<section><h2>Field</h2>
<dl class="meta">
 <dt>Org</dt><dd>{{ view.org }}</dd>
 <dt>Label</dt><dd id="field-label">{{ view.label or '—' }}</dd>
 <dt>Description</dt><dd>{{ view.description or '—' }}</dd>
 <dt>Type</dt><dd>{{ view.kind or 'unknown' }}</dd>
 <dt>Proposal</dt><dd id="proposal"><strong>{{ proposal(view) }}</strong></dd>
 <dt>Confidence</dt><dd>{{ '%.2f' % view.confidence }}
   <span class="badge tier-{{ view.tier.value }}">{{ view.tier.value }}</span></dd>
 <dt>Impact</dt><dd>{{ '%g' % view.impact }}</dd>
 {% if view.status.decided %}<dt>Decision</dt><dd>{{ view.decided_concept or
   view.decided_block or 'no equivalent' }}</dd>{% endif %}
 <dt>Matcher</dt><dd class="small">{{ view.matcher_version }} · ontology
   {{ view.ontology_version }}</dd>
</dl></section>
<section><h2>Value profile</h2>
{% if view.profile %}{% set p = view.profile %}
<dl class="meta" id="profile">
 <dt>Rows</dt><dd>{{ '{:,}'.format(p.n_rows) }}</dd>
 <dt>Empty</dt><dd>{{ '%.0f' % (p.null_rate * 100) }}%</dd>
 <dt>Distinct</dt><dd>{{ '%.0f' % (p.distinct_ratio * 100) }}%</dd>
 {% if p.numeric_quantiles %}<dt>Quantiles</dt><dd>{% for q, v in p.numeric_quantiles.items()
   %}q{{ '%g' % (q | float * 100) }} = {{ '{:,.4g}'.format(v) }}{% if not loop.last %}, {%
   endif %}{% endfor %}</dd>{% endif %}
 {% if p.true_rate is not none %}<dt>True</dt>
   <dd>{{ '%.0f' % (p.true_rate * 100) }}%</dd>{% endif %}
 {% if p.categories %}<dt>Categories</dt><dd>{% for c in p.categories[:8] %}{{ c.value }}
   ({{ c.count }}){% if not loop.last %}, {% endif %}{% endfor %}{% if p.n_suppressed_categories
   %} · {{ p.n_suppressed_categories }} rare value(s) suppressed{% endif %}</dd>{% endif %}
 {% if p.length_mean is not none %}<dt>Mean length</dt>
   <dd>{{ '%.1f' % p.length_mean }}</dd>{% endif %}
</dl>
<p class="muted small">Aggregates of at least {{ p.k }} records; no record values.</p>
{% else %}<p class="muted">No profile (import with the org's schema and records to see one:
<code>--schema ORG=PATH --records ORG=FOLDER</code>).</p>{% endif %}
</section></div>

<form method="post" action="/field/{{ view.id }}/decide" id="decide">
<input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="version" value="{{ view.version }}">
<h2>Candidates</h2>
<table id="candidates">
<thead><tr><th>Concept</th><th>Label</th><th>Score</th><th>Evidence</th><th></th></tr></thead>
<tbody>
{% for c in view.candidates %}
<tr{% if c.concept == view.proposed_concept %} class="proposed"{% endif %}>
 <td><code>{{ c.concept }}</code>{% if c.concept == view.proposed_concept %}
   <span class="badge">proposed</span>{% endif %}</td>
 <td>{{ c.label or '' }}</td>
 <td class="num"><meter min="0" max="1" value="{{ c.score }}"></meter> {{ '%.2f' % c.score }}</td>
 <td><ul class="evidence">{% for line in c.evidence %}<li>{{ line }}</li>
   {% else %}<li>—</li>{% endfor %}</ul></td>
 <td><button type="submit" name="choose" value="{{ c.concept }}">Choose</button></td>
</tr>
{% else %}
<tr><td colspan="5" class="muted">No candidates.</td></tr>
{% endfor %}
</tbody></table>
{% if view.rejected %}<p class="muted small">Rejected before, never proposed again:
{{ view.rejected | join(', ') }}</p>{% endif %}
<h2>Decision</h2>
<label for="comment">Comment (kept in the audit log)</label>
<textarea id="comment" name="comment" maxlength="4000"></textarea>
<div class="actions">
 <button class="primary" type="submit" name="action" value="accept" accesskey="a">{% if
   view.proposed_concept or view.proposed_block %}Accept proposal{% else %}Accept: no
   concept{% endif %} <kbd>a</kbd></button>
 <button class="danger" type="submit" name="action" value="no_equivalent" accesskey="n">Reject:
   no equivalent <kbd>n</kbd></button>
 <button type="submit" name="action" value="defer" accesskey="d">Defer <kbd>d</kbd></button>
</div>
</form>
<form method="post" action="/field/{{ view.id }}/decide" class="actions" id="choose-other">
 <input type="hidden" name="csrf" value="{{ csrf }}">
 <input type="hidden" name="version" value="{{ view.version }}">
 <label>Another concept <input type="text" name="choose" list="concepts" size="34"
   placeholder="concept id or custom:&lt;id&gt;" required></label>
 <label>Comment <input type="text" name="comment" size="30" maxlength="4000"></label>
 <button type="submit">Choose this concept</button>
 <datalist id="concepts">{% for cid in concept_ids %}<option value="{{ cid }}">
   {% endfor %}</datalist>
</form>
{% if history %}
<h2>History</h2>
<table id="history"><thead><tr><th>When</th><th>Who</th><th>Action</th><th>Mapped to</th>
<th>Comment</th></tr></thead><tbody>
{% for d in history %}<tr><td class="small">{{ d.decided_at[:19].replace('T', ' ') }}</td>
<td>{{ d.reviewer }}</td><td>{{ d.action.value }}</td>
<td>{{ d.concept or d.block or '—' }}</td><td>{{ d.comment or '' }}</td></tr>{% endfor %}
</tbody></table>
{% endif %}
{% endblock %}
"""

ERROR = """{% extends "base.html" %}
{% block title %}{{ title }}{% endblock %}
{% block content %}<h1>{{ title }}</h1><p><a href="/">Back to the queue</a></p>{% endblock %}
"""

TEMPLATES = {
    "base.html": BASE,
    "login.html": LOGIN,
    "queue.html": QUEUE,
    "field.html": FIELD,
    "error.html": ERROR,
}
