// Keyboard shortcuts of the review and adjudication pages. No inline script: the page's
// Content-Security-Policy allows only this file.
(function () {
  "use strict";
  function typing(el) {
    return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable);
  }
  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    var form = document.getElementById("decision-form");
    var active = document.activeElement;
    if (ev.key === "Escape" && typing(active)) { active.blur(); return; }
    if (typing(active)) { return; }
    if (ev.key === "n") {
      var link = document.getElementById("to-challenge");
      if (link) { ev.preventDefault(); window.location.href = link.getAttribute("href"); }
      return;
    }
    if (!form) { return; }
    if (ev.key === "c") {
      var comment = document.getElementById("comment");
      if (comment) { ev.preventDefault(); comment.focus(); }
      return;
    }
    var label = document.getElementById("label");
    if (/^[1-9]$/.test(ev.key) && label) {
      var i = parseInt(ev.key, 10);
      if (i < label.options.length) { ev.preventDefault(); label.selectedIndex = i; }
      return;
    }
    var button = form.querySelector('button[data-key="' + ev.key + '"]');
    if (button) {
      ev.preventDefault();
      if (button.value === "relabel" && label && !label.value) { label.focus(); return; }
      if (form.requestSubmit) { form.requestSubmit(button); } else { button.click(); }
    }
  });
})();
