// Keyboard shortcuts of medgen's eyeballing app; every action is also a plain link or form.
// j / ArrowRight: next error; k / ArrowLeft: previous; t: the tag box; 1-9: toggle a category;
// shift+1-9 (and shift+Enter in the tag box): tag, then the next error. In the gallery: a ticks
// every error shown (again: none), 1-9 tag the ticked ones, shift-click ticks a run of cards; a
// filter list applies itself when changed.
// The window/level sliders redraw the input pictures as they move and keep the setting on release.
// It posts nothing itself: keys click a form's button, so the form's session token goes along.
(function () {
  "use strict";

  var NOT_TYPED = ["checkbox", "radio", "button", "submit"];  // keys on these are shortcuts

  function typing(target) {
    if (target && target.tagName === "INPUT") { return NOT_TYPED.indexOf(target.type) < 0; }
    return target && (target.tagName === "TEXTAREA" || target.tagName === "SELECT" ||
                      target.isContentEditable);
  }

  function follow(rel) {
    var link = document.querySelector('a[rel="' + rel + '"]');
    if (link) { window.location.href = link.href; }
  }

  function press(selector) {
    var button = document.querySelector(selector);
    if (button) { button.click(); }
  }

  // ---- ticking cards in the gallery -----------------------------------------------------------
  var ticks = Array.prototype.slice.call(document.querySelectorAll("input.tick"));
  var lastTicked = null;

  function countTicked() {
    var shown = document.getElementById("n-ticked");
    if (shown) { shown.textContent = ticks.filter(function (t) { return t.checked; }).length; }
  }

  function tickAll() {
    var all = ticks.every(function (t) { return t.checked; });
    ticks.forEach(function (t) { t.checked = !all; });
    countTicked();
  }

  ticks.forEach(function (tick, at) {
    tick.addEventListener("click", function (event) {
      if (event.shiftKey && lastTicked !== null) {
        var low = Math.min(lastTicked, at), high = Math.max(lastTicked, at);
        for (var i = low; i <= high; i++) { ticks[i].checked = tick.checked; }
      }
      lastTicked = at;
      countTicked();
    });
  });
  var tickAllButton = document.getElementById("tick-all");
  if (tickAllButton) { tickAllButton.addEventListener("click", tickAll); }
  countTicked();

  // ---- the gallery's filters: a list changed is a filter applied ------------------------------
  // Fields left at "any" are not sent, so the URL names only the filters in force.
  function dropDefaults(form) {
    Array.prototype.forEach.call(form.elements, function (field) {
      if (field.name && (field.value === "" || (field.name === "sort" && field.value === "id"))) {
        field.disabled = true;
      }
    });
  }
  var filters = document.getElementById("filters");
  if (filters) {
    filters.addEventListener("submit", function () { dropDefaults(filters); });
    window.addEventListener("pageshow", function () {  // back to a page kept whole: usable again
      Array.prototype.forEach.call(filters.elements, function (field) { field.disabled = false; });
    });
    filters.querySelectorAll("select").forEach(function (list) {
      list.addEventListener("change", function () { dropDefaults(filters); filters.submit(); });
    });
  }

  // ---- window / level -------------------------------------------------------------------------
  var windowBox = document.getElementById("window"), levelBox = document.getElementById("level");
  function redraw() {
    var width = parseFloat(windowBox.value), level = parseFloat(levelBox.value);
    var query = "?window=" + width + "&level=" + level;
    document.querySelectorAll("img[data-windowed]").forEach(function (img) {
      img.src = img.getAttribute("data-windowed") + query;
    });
    var text = document.getElementById("window-text");
    if (text) { text.textContent = (level - width / 2).toFixed(2) + " – " + (level + width / 2).toFixed(2); }
  }
  if (windowBox && levelBox) {
    [windowBox, levelBox].forEach(function (box) {
      box.addEventListener("input", redraw);
      box.addEventListener("change", function () { box.form.submit(); });
    });
  }

  // ---- keys -----------------------------------------------------------------------------------
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (typing(event.target)) {
      if (event.key === "Escape") {
        event.target.blur();
      } else if (event.key === "Enter" && event.shiftKey && event.target.id === "tag-box") {
        event.preventDefault();
        press('#tag-form button[name="advance"]');
      }
      return;
    }
    var digit = /^Digit([1-9])$/.exec(event.code || "");
    if (event.shiftKey && digit) {
      event.preventDefault();
      press('button[data-advance="' + digit[1] + '"]');
    } else if (event.key === "j" || event.key === "ArrowRight") {
      follow("next");
    } else if (event.key === "k" || event.key === "ArrowLeft") {
      follow("prev");
    } else if (event.key === "t") {
      var box = document.getElementById("tag-box");
      if (box) { event.preventDefault(); box.focus(); }
    } else if (event.key === "a" && tickAllButton) {
      tickAll();
    } else if (/^[1-9]$/.test(event.key)) {
      press('button[data-shortcut="' + event.key + '"]');
    }
  });
})();
