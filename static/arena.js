// Streams the answers of a live turn into the page. Text arrives as deltas and is shown as
// plain text (textContent); the final answer is replaced by the server's sanitised HTML.
// EventSource reconnects by itself and sends Last-Event-ID, so a dropped connection
// resumes where it stopped.
(function () {
  "use strict";

  function clearErrors() {
    var box = document.getElementById("errors");
    if (box) box.innerHTML = "";
  }

  function startTurn(section, turnEl) {
    if (turnEl.dataset.streaming) return;
    turnEl.dataset.streaming = "1";
    var battleId = section.dataset.battleId;
    var turn = turnEl.dataset.turn;
    var es = new EventSource("/api/battles/" + battleId + "/stream?turn=" + turn);
    ["a", "b"].forEach(function (side) {
      es.addEventListener(side, function (ev) {
        var pane = turnEl.querySelector('.pane[data-side="' + side + '"] .answer');
        if (!pane) return;
        var msg = JSON.parse(ev.data);
        if (msg.type === "delta") {
          if (pane.dataset.status !== "streaming") { pane.textContent = ""; pane.dataset.status = "streaming"; }
          pane.textContent += msg.text;
        } else if (msg.type === "reset") {
          pane.textContent = "";
          pane.dataset.status = "streaming";
        } else if (msg.type === "done") {
          pane.innerHTML = msg.html;
          pane.dataset.status = "done";
        } else if (msg.type === "error") {
          pane.textContent = "";
          var p = document.createElement("p");
          p.className = "error";
          p.textContent = msg.message;
          pane.appendChild(p);
          pane.dataset.status = "failed";
        }
      });
    });
    es.addEventListener("end", function (ev) {
      es.close();
      var msg = JSON.parse(ev.data);
      turnEl.removeAttribute("data-live");
      section.querySelectorAll("button.vote").forEach(function (b) { b.disabled = !msg.can_vote; });
      section.querySelectorAll(".follow-up input, .follow-up button").forEach(function (el) {
        el.disabled = !!msg.failed;
      });
      if (msg.failed) {
        var votes = section.querySelector(".votes");
        if (votes) votes.innerHTML = '<p class="error">An answer failed, so this battle can not be voted on. <a href="/">New battle</a></p>';
      }
      section.dataset.ended = "1";
    });
  }

  function scan(root) {
    (root || document).querySelectorAll("section.battle").forEach(function (section) {
      section.querySelectorAll(".turn[data-live]").forEach(function (t) { startTurn(section, t); });
    });
  }

  // Example questions fill the question box (the visitor still chooses the image).
  document.addEventListener("click", function (ev) {
    var button = ev.target.closest && ev.target.closest("button.example-question");
    if (!button) return;
    var box = document.querySelector("#new-battle textarea[name=prompt]");
    if (box) { box.value = button.dataset.question; box.focus(); }
  });

  // Keyboard voting: ← A is better, → B is better, t tie, b both are bad. Only while the
  // vote buttons are enabled (both answers finished), never while typing in a field.
  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat) return;
    var t = ev.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    var key = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
    var button = document.querySelector('section.battle .votes button.vote[data-key="' + key + '"]');
    if (!button || button.disabled) return;
    ev.preventDefault();
    button.click();
  });

  document.addEventListener("DOMContentLoaded", function () { scan(document); });
  document.addEventListener("htmx:afterSwap", function (ev) {
    var target = ev.detail && ev.detail.target;
    if (target && target.id !== "errors") clearErrors();
    if (target && target.id === "battle" && target.querySelector("section.battle")) {
      ["new-battle", "presets"].forEach(function (id) {
        var form = document.getElementById(id);
        if (form) form.hidden = true;  // one battle at a time; "New battle" starts over
      });
    }
    scan(document);
  });
})();
