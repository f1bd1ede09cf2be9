// Keyboard shortcuts of medgen's eyeballing app; every action is also a plain link or form.
// j / ArrowRight: next error; k / ArrowLeft: previous; t: the tag box; 1-9: toggle a category.
// It posts nothing itself: 1-9 click a form's button, so the form's session token goes along.
(function () {
  "use strict";

  function typing(target) {
    return target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" ||
                      target.tagName === "SELECT" || target.isContentEditable);
  }

  function follow(rel) {
    var link = document.querySelector('a[rel="' + rel + '"]');
    if (link) { window.location.href = link.href; }
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (typing(event.target)) {
      if (event.key === "Escape") { event.target.blur(); }
      return;
    }
    if (event.key === "j" || event.key === "ArrowRight") {
      follow("next");
    } else if (event.key === "k" || event.key === "ArrowLeft") {
      follow("prev");
    } else if (event.key === "t") {
      var box = document.getElementById("tag-box");
      if (box) { event.preventDefault(); box.focus(); }
    } else if (/^[1-9]$/.test(event.key)) {
      var button = document.querySelector('button[data-shortcut="' + event.key + '"]');
      if (button) { button.click(); }
    }
  });
})();
