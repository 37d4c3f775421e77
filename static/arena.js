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
          // A long answer scrolls inside its pane: follow it while the reader is at the end.
          var atEnd = pane.scrollHeight - pane.scrollTop - pane.clientHeight < 24;
          pane.textContent += msg.text;
          if (atEnd) pane.scrollTop = pane.scrollHeight;
        } else if (msg.type === "reset") {
          pane.textContent = "";
          pane.dataset.status = "streaming";
        } else if (msg.type === "done") {
          pane.innerHTML = msg.html;  // sanitised on the server (app/web/render.py)
          pane.dataset.status = "done";
          pane.dataset.source = msg.text;
          pane.scrollTop = 0;  // the finished answer is read from its start
          var copy = turnEl.querySelector('.pane[data-side="' + side + '"] .copy-answer');
          if (copy) copy.hidden = false;
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

  // Copy an answer: its Markdown source as the model wrote it.
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    return new Promise(function (resolve, reject) {  // plain http on a LAN address
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      document.body.removeChild(area);
      if (ok) { resolve(); } else { reject(new Error("copy refused")); }
    });
  }

  document.addEventListener("click", function (ev) {
    var button = ev.target.closest && ev.target.closest("button.copy-answer");
    if (!button) return;
    var answer = button.closest(".pane").querySelector(".answer");
    var text = answer.dataset.source !== undefined ? answer.dataset.source : answer.innerText;
    copyText(text).then(function () { button.textContent = "Copied"; },
                        function () { button.textContent = "Copy failed"; });
    setTimeout(function () { button.textContent = "Copy"; }, 2000);
  });

  // Images in: choose a file, drop one on the form, or paste one; a preview shows what
  // will be sent. The limits come from the page (the server's settings) and the server
  // checks them again.
  var previewUrl = null;

  function imageParts() {
    var zone = document.getElementById("dropzone");
    if (!zone || zone.closest("form").hidden) return null;
    return {
      zone: zone,
      input: document.getElementById("image-input"),
      preview: document.getElementById("image-preview"),
      error: document.getElementById("image-error"),
    };
  }

  function showImageError(parts, message) {
    parts.error.textContent = message;
    parts.error.hidden = !message;
  }

  function clearImage(parts) {
    parts.input.value = "";
    parts.preview.hidden = true;
    parts.preview.querySelector("img").removeAttribute("src");
    if (previewUrl) { URL.revokeObjectURL(previewUrl); previewUrl = null; }
  }

  function sizeText(n) {
    return n >= 1048576 ? (n / 1048576).toFixed(1) + " MiB" : Math.max(1, Math.round(n / 1024)) + " KiB";
  }

  // Checks the file and shows it; false (and a message) when it can not be sent.
  function showImage(parts, file) {
    var accepted = (parts.zone.dataset.accept || "").split(",");
    var maxBytes = parseInt(parts.zone.dataset.maxBytes, 10);
    if (accepted.indexOf(file.type) < 0) {
      clearImage(parts);
      showImageError(parts, "This file is not an accepted image (" + (file.type || "unknown type") + ").");
      return false;
    }
    if (maxBytes && file.size > maxBytes) {
      clearImage(parts);
      showImageError(parts, "This image is " + sizeText(file.size) + ", more than the " + sizeText(maxBytes) + " allowed.");
      return false;
    }
    showImageError(parts, "");
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = URL.createObjectURL(file);
    parts.preview.querySelector("img").src = previewUrl;
    parts.preview.querySelector("figcaption").textContent = (file.name || "pasted image") + " · " + sizeText(file.size);
    parts.preview.hidden = false;
    return true;
  }

  function takeFile(parts, file) {
    if (!showImage(parts, file)) return;
    var dt = new DataTransfer();
    dt.items.add(file);
    parts.input.files = dt.files;
  }

  // The first file of a FileList or DataTransferItemList (only an image one if asked).
  function firstFile(list, imagesOnly) {
    for (var i = 0; list && i < list.length; i++) {
      if (list[i].kind === undefined || list[i].kind === "file") {
        var f = list[i].getAsFile ? list[i].getAsFile() : list[i];
        if (f && (!imagesOnly || /^image\//.test(f.type))) return f;
      }
    }
    return null;
  }

  document.addEventListener("change", function (ev) {
    var parts = imageParts();
    if (!parts || ev.target !== parts.input) return;
    var file = parts.input.files && parts.input.files[0];
    if (file) { showImage(parts, file); } else { clearImage(parts); }
  });

  ["dragenter", "dragover"].forEach(function (type) {
    document.addEventListener(type, function (ev) {
      var parts = imageParts();
      if (!parts || !parts.zone.closest("form").contains(ev.target)) return;
      ev.preventDefault();
      parts.zone.classList.add("dragging");
    });
  });
  document.addEventListener("dragleave", function (ev) {
    var parts = imageParts();
    if (parts && ev.target === parts.zone) parts.zone.classList.remove("dragging");
  });
  document.addEventListener("drop", function (ev) {
    var parts = imageParts();
    if (!parts || !parts.zone.closest("form").contains(ev.target)) return;
    ev.preventDefault();
    parts.zone.classList.remove("dragging");
    var file = ev.dataTransfer && (firstFile(ev.dataTransfer.files) || firstFile(ev.dataTransfer.items));
    if (file) takeFile(parts, file);
  });
  document.addEventListener("paste", function (ev) {
    var parts = imageParts();
    var data = ev.clipboardData;
    if (!parts || !data) return;
    var file = firstFile(data.files, true) || firstFile(data.items, true);
    if (!file) return;  // text (or anything else) pastes as usual
    ev.preventDefault();
    takeFile(parts, file);
  });
  document.addEventListener("click", function (ev) {
    if (!ev.target.closest || !ev.target.closest("#clear-image")) return;
    var parts = imageParts();
    if (parts) { clearImage(parts); showImageError(parts, ""); parts.input.focus(); }
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
