#!/usr/bin/python3
"""html-layout-check.py: checks the layout of a medseal HTML report in headless Chromium.

For each width given, a copy of the report with a measuring script appended is loaded with
`chromium --headless --dump-dom` (no network: every host resolves to nothing), and the script
writes what it measured into the DOM that Chromium prints:
  - overlapping text: the boxes of any two different pieces of text (each line fragment of each
    text node; an SVG <text> element as a whole) intersect by more than 2 px in both directions;
  - horizontal overflow: the page is wider than the window (a table or chart that does not fit);
  both with the <details> (the guideline rules) closed, and again with all of them open.
Before that, the report itself is checked for anything that would load from elsewhere: src=,
href=, url(, @import, <link>, <script>, <img>, <iframe>, <object>, <embed>.

Usage: html-layout-check.py REPORT.html WIDTH... [--screenshot OUT.png]  (the first width's view)
Exit: 0 all good; 1 problems (one line each, naming the width and the two texts); 77 no chromium.
Trusts: the report only as far as each check goes. Writes temporary files in a temp folder.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

MEASURE = r"""
<script>
(function () {
  var out = {overlaps: [], scrollWidth: 0, innerWidth: window.innerWidth, texts: 0};
  function measure(state) {
  out.scrollWidth = Math.max(out.scrollWidth, document.documentElement.scrollWidth);
  var boxes = [];
  var walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  var n, id = 0;
  while ((n = walker.nextNode())) {
    if (!/\S/.test(n.nodeValue)) continue;
    var p = n.parentElement;
    if (!p || p.closest('script,style,title')) continue;
    /* not drawn: the body of a closed <details>, anything display:none */
    var d = p.closest('details');
    if (d && !d.open && !p.closest('summary')) continue;
    if (p.checkVisibility && !p.checkVisibility()) continue;
    id++;
    var rects;
    if (p.closest('svg')) {
      var t = p.closest('text');
      if (!t) continue;           /* <title> tooltips are not drawn */
      rects = [t.getBoundingClientRect()];
    } else {
      var r = document.createRange();
      r.selectNodeContents(n);
      rects = Array.prototype.slice.call(r.getClientRects());
    }
    rects.forEach(function (b) {
      if (b.width > 0.5 && b.height > 0.5)
        boxes.push({id: id, t: n.nodeValue.trim().slice(0, 40), l: b.left, r: b.right, top: b.top, b: b.bottom});
    });
  }
  out.texts = Math.max(out.texts, id);
  for (var i = 0; i < boxes.length; i++)
    for (var k = i + 1; k < boxes.length; k++) {
      var a = boxes[i], c = boxes[k];
      if (a.id === c.id) continue;
      var w = Math.min(a.r, c.r) - Math.max(a.l, c.l), h = Math.min(a.b, c.b) - Math.max(a.top, c.top);
      if (w > 2 && h > 2 && out.overlaps.length < 20) out.overlaps.push([a.t + state, c.t, Math.round(w), Math.round(h)]);
    }
  }
  measure('');
  /* the same with every <details> (the guideline rules) opened, as in print */
  document.querySelectorAll('details').forEach(function (d) { d.open = true; });
  measure(' [details open]');
  var pre = document.createElement('pre');
  pre.id = 'ms-layout';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>
"""

EXTERNAL = re.compile(r"\ssrc\s*=|\shref\s*=|url\(|@import|<link\b|<script\b|<img\b|<iframe\b|"
                      r"<object\b|<embed\b", re.I)


def chromium():
    for c in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(c)
        if p:
            return p
    return None


def run(browser, path, width, extra, height=1200):
    args = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--no-first-run", "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--window-size={width},{height}"] + extra + ["file://" + path]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def main(argv):
    shot = None
    if "--screenshot" in argv:
        i = argv.index("--screenshot")
        shot = argv[i + 1]
        argv = argv[:i] + argv[i + 2:]
    if len(argv) < 3:
        print(__doc__.split("\n\n")[2], file=sys.stderr)
        return 2
    report, widths = argv[1], [int(x) for x in argv[2:]]
    browser = chromium()
    if browser is None:
        print("no chromium")
        return 77
    html = open(report, encoding="utf-8").read()
    problems = []
    for m in EXTERNAL.finditer(html):
        problems.append(f"external load or script in the report at byte {m.start()}: {m.group(0)!r}")
    tmp = tempfile.mkdtemp(prefix="ms-layout-")
    try:
        page = os.path.join(tmp, "page.html")
        with open(page, "w", encoding="utf-8") as f:
            f.write(html.replace("</body>", MEASURE + "</body>", 1))
        for w in widths:
            r = run(browser, page, w, ["--dump-dom"])
            m = re.search(r'<pre id="ms-layout">(.*?)</pre>', r.stdout, re.S)
            if not m:
                problems.append(f"width {w}: chromium gave no measurement (rc {r.returncode})")
                continue
            res = json.loads(m.group(1).replace("&quot;", '"').replace("&lt;", "<")
                             .replace("&gt;", ">").replace("&amp;", "&"))
            if res["texts"] < 10:
                problems.append(f"width {w}: only {res['texts']} texts measured")
            if res["scrollWidth"] > res["innerWidth"] + 1:
                problems.append(f"width {w}: page is {res['scrollWidth']} px wide, window "
                                f"{res['innerWidth']} px (horizontal overflow)")
            for a, b, ow, oh in res["overlaps"]:
                problems.append(f"width {w}: text {a!r} overlaps {b!r} ({ow}x{oh} px)")
        if shot:
            run(browser, os.path.abspath(report), widths[0], [f"--screenshot={shot}"], 1700)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
