// Berth web UI conveniences. Every page works without this file; it only adds a copy
// button next to elements marked `data-copy` and a confirmation to forms marked
// `data-confirm`. No inline handlers: the page's CSP forbids inline script.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-copy]").forEach(function (el) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "link copy";
    b.textContent = "Copy";
    b.setAttribute("aria-label", "Copy to the clipboard");
    b.addEventListener("click", function () {
      var text = el.getAttribute("data-copy") || el.textContent;
      if (navigator.clipboard) {
        navigator.clipboard.writeText(text).then(function () { b.textContent = "Copied"; });
      }
    });
    el.insertAdjacentElement("afterend", b);
  });
  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      if (!window.confirm(f.getAttribute("data-confirm"))) { e.preventDefault(); }
    });
  });
});
