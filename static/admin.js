// Admin dashboard: flagged images stay blurred until a moderator clicks them (and blur
// again on a second click). Delegated, so cards swapped in by htmx work too. No inline
// scripts: the admin pages' Content-Security-Policy allows only same-origin files.
(function () {
  "use strict";
  document.addEventListener("click", function (ev) {
    var button = ev.target.closest && ev.target.closest(".thumb-toggle");
    if (!button) return;
    var img = button.querySelector("img.thumb");
    if (!img) return;
    var blurred = img.classList.toggle("blurred");
    button.setAttribute("aria-label", blurred ? "Show image" : "Blur image");
  });
})();
