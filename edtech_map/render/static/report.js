/* edtech-map report: tool cards, the school filter, and zoom/pan of the diagram. No network. */
(function () {
  "use strict";
  var toolSchools = JSON.parse(document.getElementById("tool-schools").textContent);
  var panel = document.getElementById("card-panel");
  var lastFocus = null;

  function closeCards() {
    panel.hidden = true;
    Array.prototype.forEach.call(panel.querySelectorAll(".card"), function (card) { card.hidden = true; });
    Array.prototype.forEach.call(document.querySelectorAll("#diagram-view g.node.selected"), function (n) {
      n.classList.remove("selected");
    });
    if (lastFocus) { lastFocus.focus(); lastFocus = null; }
  }

  function openCard(tool) {
    var card = document.getElementById("card-" + tool);
    if (!card) { return; }
    lastFocus = document.activeElement;
    closeCards();
    lastFocus = lastFocus || null;
    panel.hidden = false;
    card.hidden = false;
    var node = document.getElementById("node-" + tool);
    if (node) { node.classList.add("selected"); }
    card.querySelector("h2").focus();
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) { return; }
    if (target.closest("#card-panel .close")) { closeCards(); return; }
    var link = target.closest("[data-tool]");
    if (link) { event.preventDefault(); openCard(link.getAttribute("data-tool")); return; }
    var node = target.closest("#diagram-view g.node");
    if (node && node.id.indexOf("node-") === 0 && !dragged) { openCard(node.id.slice(5)); }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !panel.hidden) { closeCards(); }
  });

  /* School filter: hide rows, findings and coverage of other schools; dim other tools. */
  var filter = document.getElementById("school-filter");
  var status = document.getElementById("filter-status");
  function applyFilter() {
    var school = filter.value;
    Array.prototype.forEach.call(document.querySelectorAll("main [data-schools]"), function (el) {
      var list = el.getAttribute("data-schools");
      el.hidden = !(school === "" || list === "*" || list.split(" ").indexOf(school) >= 0);
    });
    var shown = 0;
    Array.prototype.forEach.call(document.querySelectorAll(".count[data-severity]"), function (count) {
      var severity = count.getAttribute("data-severity");
      var visible = document.querySelectorAll("li.finding[data-severity='" + severity + "']:not([hidden])").length;
      count.textContent = String(visible);
      shown += visible;
    });
    Array.prototype.forEach.call(document.querySelectorAll("#diagram-view g.node"), function (node) {
      var tool = node.id.slice(5);
      var at = toolSchools[tool];
      node.classList.toggle("dim", school !== "" && !!at && at.indexOf(school) < 0);
    });
    if (school === "") {
      status.textContent = "";
    } else {
      status.textContent = "Showing " + filter.options[filter.selectedIndex].text +
        (document.querySelector("li.finding") ? ": " + shown + " findings" : "");
    }
  }
  filter.addEventListener("change", applyFilter);

  /* Zoom and pan: change the SVG's viewBox. */
  var view = document.getElementById("diagram-view");
  var svg = view ? view.querySelector("svg") : null;
  var dragged = false;
  if (svg && svg.viewBox && svg.viewBox.baseVal) {
    var box = svg.viewBox.baseVal;
    var home = { x: box.x, y: box.y, width: box.width, height: box.height };
    var set = function (x, y, w, h) { svg.setAttribute("viewBox", [x, y, w, h].join(" ")); };
    var zoom = function (factor, cx, cy) {
      var b = svg.viewBox.baseVal;
      var w = Math.min(home.width * 4, Math.max(home.width / 40, b.width * factor));
      var h = b.height * (w / b.width);
      var px = cx === undefined ? 0.5 : cx, py = cy === undefined ? 0.5 : cy;
      set(b.x + (b.width - w) * px, b.y + (b.height - h) * py, w, h);
    };
    view.addEventListener("wheel", function (event) {
      event.preventDefault();
      var rect = svg.getBoundingClientRect();
      zoom(event.deltaY > 0 ? 1.2 : 1 / 1.2,
           (event.clientX - rect.left) / rect.width, (event.clientY - rect.top) / rect.height);
    }, { passive: false });
    var start = null;
    view.addEventListener("pointerdown", function (event) {
      start = { x: event.clientX, y: event.clientY, box: svg.viewBox.baseVal };
      start.bx = start.box.x; start.by = start.box.y;
      dragged = false;
    });
    view.addEventListener("pointermove", function (event) {
      if (!start) { return; }
      var dx = event.clientX - start.x, dy = event.clientY - start.y;
      if (Math.abs(dx) + Math.abs(dy) > 4) { dragged = true; view.classList.add("dragging"); }
      if (!dragged) { return; }
      var rect = svg.getBoundingClientRect();
      var b = svg.viewBox.baseVal;
      var scale = Math.max(b.width / rect.width, b.height / rect.height);
      set(start.bx - dx * scale, start.by - dy * scale, b.width, b.height);
    });
    var stop = function () {
      start = null;
      view.classList.remove("dragging");
      window.setTimeout(function () { dragged = false; }, 0);
    };
    view.addEventListener("pointerup", stop);
    view.addEventListener("pointerleave", stop);
    view.addEventListener("keydown", function (event) {
      var b = svg.viewBox.baseVal, step = b.width / 10;
      if (event.key === "+" || event.key === "=") { zoom(1 / 1.2); }
      else if (event.key === "-") { zoom(1.2); }
      else if (event.key === "0") { set(home.x, home.y, home.width, home.height); }
      else if (event.key === "ArrowLeft") { set(b.x - step, b.y, b.width, b.height); }
      else if (event.key === "ArrowRight") { set(b.x + step, b.y, b.width, b.height); }
      else if (event.key === "ArrowUp") { set(b.x, b.y - step, b.width, b.height); }
      else if (event.key === "ArrowDown") { set(b.x, b.y + step, b.width, b.height); }
      else { return; }
      event.preventDefault();
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-zoom]"), function (button) {
      button.addEventListener("click", function () {
        var how = button.getAttribute("data-zoom");
        if (how === "in") { zoom(1 / 1.4); }
        else if (how === "out") { zoom(1.4); }
        else { set(home.x, home.y, home.width, home.height); }
      });
    });
  }

  /* Printing: open every coverage table. */
  window.addEventListener("beforeprint", function () {
    Array.prototype.forEach.call(document.querySelectorAll("details"), function (d) { d.open = true; });
  });
}());
