"""The report's inline stylesheet and script, as strings: the HTML file needs nothing else (no CDN, no
fonts, no library), so it opens offline and can be mailed as one attachment.

The script works on every ``table.layers``: each body row has ``data-id`` and ``data-parent`` (its
group row's id, empty at the top), numeric cells ``data-v`` (the exact number); group rows have the
class ``group``. Sorting keeps the tree: siblings are sorted, each followed by its own sorted children.
"""

CSS = """
:root { --fg: #1d232a; --muted: #5b6670; --line: #d6dbe0; --band: #f3f5f7; --accent: #2f6db5; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       margin: 0 auto; padding: 1.5rem 2rem 4rem; max-width: 1400px; background: #fff; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.3rem; margin: 2.5rem 0 .5rem; padding-bottom: .25rem; border-bottom: 2px solid var(--line); }
h3 { font-size: 1.05rem; margin: 1.5rem 0 .4rem; }
p.sub, .caption, .note { color: var(--muted); }
.caption { font-size: .85rem; margin: .35rem 0 1rem; max-width: 70rem; }
.note { background: var(--band); border-left: 3px solid var(--accent); padding: .4rem .7rem; }
nav ul { margin: .3rem 0; padding: 0; list-style: none; display: flex; flex-wrap: wrap; gap: .3rem 1.2rem; }
table { border-collapse: collapse; margin: .3rem 0; font-variant-numeric: tabular-nums; }
th, td { padding: .18rem .6rem; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: var(--band); font-weight: 600; }
td.num, th.num { text-align: right; white-space: nowrap; }
tfoot td { font-weight: 600; border-top: 2px solid var(--fg); }
dl.summary { display: grid; grid-template-columns: max-content auto; gap: .15rem 1.2rem; margin: .5rem 0; }
dl.summary dt { color: var(--muted); }
dl.summary dd { margin: 0; font-variant-numeric: tabular-nums; }
table.layers th { cursor: pointer; user-select: none; position: sticky; top: 0; }
table.layers th[aria-sort="descending"]::after { content: " \\25BE"; }
table.layers th[aria-sort="ascending"]::after { content: " \\25B4"; }
table.layers tr.group { cursor: pointer; background: #fafbfc; }
table.layers tr.group td.name::before { content: "\\25BE "; color: var(--muted); }
table.layers tr.group[data-open="0"] td.name::before { content: "\\25B8 "; }
table.layers td.name { white-space: nowrap; }
table.layers tr:hover td { background: #eef3f9; }
.controls { margin: .4rem 0; color: var(--muted); }
.overview { display: flex; flex-wrap: wrap; gap: 0 3rem; align-items: flex-start; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: .5rem 0; max-width: 100%; }
figure svg { max-width: 100%; height: auto; }
.fail { color: #b3261e; font-weight: 600; }
.pass { color: #1e7d32; }
"""

JS = """
(function () {
  "use strict";
  function num(text) {
    if (/^-?\\d+$/.test(text)) { return BigInt(text); }
    return Number(text);
  }
  function refresh(body) {
    var shown = {}, open = {};
    Array.prototype.forEach.call(body.rows, function (row) {
      var parent = row.dataset.parent;
      var visible = !parent || (shown[parent] && open[parent]);
      row.hidden = !visible;
      shown[row.dataset.id] = visible;
      open[row.dataset.id] = row.dataset.open !== "0";
    });
  }
  function sortBy(table, th) {
    var body = table.tBodies[0], col = th.cellIndex, numeric = th.classList.contains("num");
    var state = th.getAttribute("aria-sort"), first = numeric ? "descending" : "ascending";
    var next = !state ? first : (state === first ? (first === "descending" ? "ascending" : "descending") : "");
    Array.prototype.forEach.call(th.parentNode.cells, function (h) { h.removeAttribute("aria-sort"); });
    if (next) { th.setAttribute("aria-sort", next); }
    var sign = next === "descending" ? -1 : 1, kids = {};
    Array.prototype.forEach.call(body.rows, function (row) {
      var p = row.dataset.parent || "";
      (kids[p] = kids[p] || []).push(row);
    });
    function key(row) {
      var cell = row.cells[col];
      return numeric ? num(cell.dataset.v) : cell.textContent;
    }
    function compare(a, b) {
      if (next) {
        var x = key(a), y = key(b);
        if (x < y) { return -sign; }
        if (x > y) { return sign; }
      }
      return Number(a.dataset.i) - Number(b.dataset.i);
    }
    var order = [];
    (function walk(parent) {
      (kids[parent] || []).sort(compare).forEach(function (row) { order.push(row); walk(row.dataset.id); });
    })("");
    order.forEach(function (row) { body.appendChild(row); });
    refresh(body);
  }
  function showLevels(table, levels) {
    var body = table.tBodies[0];
    Array.prototype.forEach.call(body.querySelectorAll("tr.group"), function (row) {
      row.dataset.open = levels === "all" || Number(row.dataset.level) < Number(levels) ? "1" : "0";
    });
    refresh(body);
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.layers"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      th.addEventListener("click", function () { sortBy(table, th); });
    });
    table.tBodies[0].addEventListener("click", function (event) {
      var row = event.target.closest("tr.group");
      if (!row) { return; }
      row.dataset.open = row.dataset.open === "0" ? "1" : "0";
      refresh(table.tBodies[0]);
    });
    var select = document.getElementById(table.id + "-levels");
    if (select) {
      select.addEventListener("change", function () { showLevels(table, select.value); });
    }
  });
})();
"""
