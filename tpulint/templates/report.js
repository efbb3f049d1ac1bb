// Sorting (mouse and keyboard) and filtering of the tables, graph nodes that lead to their table row; a page
// error is recorded on the root element for headless tests.
(function () {
  "use strict";
  var root = document.documentElement;
  window.addEventListener("error", function (e) {
    root.setAttribute("data-script-error", String(e.message || e));
  });

  function cellValue(row, col, numeric) {
    var text = row.cells[col] ? row.cells[col].textContent.trim() : "";
    if (!numeric) return text.toLowerCase();
    var n = parseFloat(text);
    return isNaN(n) ? -Infinity : n;
  }

  function makeSortable(table) {
    var headers = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(headers, function (th, col) {
      th.setAttribute("tabindex", "0");
      th.setAttribute("role", "columnheader");
      function sort() {
        var numeric = th.getAttribute("data-type") === "num";
        var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
        Array.prototype.forEach.call(headers, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.forEach(function (r, i) { r._order = i; });
        rows.sort(function (a, b) {
          var x = cellValue(a, col, numeric), y = cellValue(b, col, numeric);
          return x < y ? -dir : x > y ? dir : a._order - b._order;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          sort();
        }
      });
    });
  }

  // The ops table opens on the CPU ops and their neighbours (where the model is cut) when some op is on the CPU.
  function makeFilterable(section) {
    var table = section.querySelector("table.ops");
    var input = section.querySelector("input.op-filter");
    var select = section.querySelector("select.op-placement");
    var count = section.querySelector(".op-count");
    var showAll = section.querySelector("button.show-all");
    if (!table || !input || !select) return;
    function apply() {
      var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      var place = select.value, shown = 0, rows = table.tBodies[0].rows;
      for (var i = 0; i < rows.length; i++) {
        var text = rows[i].textContent.toLowerCase();
        var which = place === "focus" ? rows[i].hasAttribute("data-focus")
          : !place || rows[i].getAttribute("data-placement") === place;
        var ok = which && words.every(function (w) { return text.indexOf(w) >= 0; });
        rows[i].hidden = !ok;
        if (ok) shown++;
      }
      count.textContent = shown + " of " + rows.length + " ops shown";
      if (showAll) showAll.hidden = select.value === "" && !input.value;
    }
    input.addEventListener("input", apply);
    select.addEventListener("change", apply);
    if (showAll) {
      showAll.addEventListener("click", function () {
        select.value = "";
        input.value = "";
        apply();
      });
    }
    section._showAll = function () { select.value = ""; input.value = ""; apply(); };
    // A link can preset the filters: report.html#placement=cpu&q=conv
    var preset = new URLSearchParams(location.hash.slice(1));
    if (preset.has("placement")) select.value = preset.get("placement");
    if (preset.has("q")) input.value = preset.get("q");
    apply();
  }

  // A graph node leads to its row in the ops table, showing every op first if the row is filtered out.
  function revealRow(id) {
    var row = document.getElementById(id);
    if (!row) return;
    var section = row.closest("section.model");
    if (row.hidden && section && section._showAll) section._showAll();
    Array.prototype.forEach.call(document.querySelectorAll("tr.target"), function (r) { r.classList.remove("target"); });
    row.classList.add("target");
    row.scrollIntoView({block: "center"});
  }

  Array.prototype.forEach.call(document.querySelectorAll("a.node-link"), function (link) {
    link.addEventListener("click", function (e) {
      e.preventDefault();
      var id = link.getAttribute("data-row");
      if (history.replaceState) history.replaceState(null, "", "#" + id);
      revealRow(id);
    });
  });

  // Tall graphs open scrolled to where the model is cut: the first blocking op.
  function scrollToCut(box) {
    var mark = box.querySelector(".node.blocker") || box.querySelector("path.cut");
    if (!mark || box.scrollHeight <= box.clientHeight) return;
    var y = mark.getBoundingClientRect().top - box.getBoundingClientRect().top;
    box.scrollTop = Math.max(0, y - box.clientHeight / 3);
  }

  Array.prototype.forEach.call(document.querySelectorAll(".graph"), scrollToCut);
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), makeSortable);
  Array.prototype.forEach.call(document.querySelectorAll("section.model"), makeFilterable);
  if (/^#model-\d+-op-/.test(location.hash)) revealRow(location.hash.slice(1));
  root.setAttribute("data-tpulint-ready", "1");
})();
