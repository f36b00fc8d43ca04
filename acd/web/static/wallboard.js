// The wallboard's live part: one Server-Sent Events stream, a message a second.
// Numbers arrive formatted; this only places them. When the stream falls silent the page says so
// and greys every number, so a screen never shows frozen figures as if they were live.
(function () {
  "use strict";
  var board = document.getElementById("board");
  if (!board || !window.EventSource) { return; }
  var STALE_MS = 5000;
  var last = Date.now();
  var stale = document.getElementById("stale");
  var staleFor = document.getElementById("stale_for");
  var lost = document.getElementById("lost");
  var dayerr = document.getElementById("dayerr");

  function setText(selector, text) {
    var nodes = document.querySelectorAll(selector);
    for (var i = 0; i < nodes.length; i++) { nodes[i].textContent = text; }
  }

  function apply(msg) {
    if (msg.layout !== board.getAttribute("data-layout")) { window.location.reload(); return; }
    var cells = board.querySelectorAll("[data-f]");
    for (var i = 0; i < cells.length; i++) {
      var cell = cells[i];
      var value = msg.fields[cell.getAttribute("data-f")];
      if (!value) { continue; }
      cell.textContent = value[0];
      var holder = cell.tagName === "TD" ? cell : cell.parentNode;
      holder.classList.toggle("bad", value[1] === "bad");
      cell.classList.toggle("nodata", value[0] === "no data");
    }
    setText('[data-g="clock"]', msg.clock);
    setText('[data-g="fcr_base"]', msg.fcr_base);
    setText('[data-g="lost_since"]', msg.lost_since ? " since " + msg.lost_since : "");
    lost.hidden = !msg.lost;
    dayerr.hidden = !msg.day_error;
    document.body.classList.toggle("lost", msg.lost);
  }

  function check() {
    var silent = Date.now() - last;
    var isStale = silent > STALE_MS;
    stale.hidden = !isStale;
    document.body.classList.toggle("stale", isStale);
    if (isStale) { staleFor.textContent = Math.round(silent / 1000) + " s"; }
  }

  function connect() {
    var source = new EventSource(board.getAttribute("data-stream"));
    source.onmessage = function (event) {
      last = Date.now();
      apply(JSON.parse(event.data));
      check();
    };
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) {
        // refused (signed out, acd restarted without the session): the page itself knows why
        source.close();
        window.setTimeout(function () { window.location.reload(); }, 5000);
      }
    };
  }

  window.setInterval(check, 1000);
  connect();
})();
