// The desk's live part: the rep's state and current call, pushed by Server-Sent Events.
// When the call changes, the call's panel (the pop and the outcome form) is fetched and shown;
// a form the rep has started typing into is never thrown away: it moves below, still postable.
(function () {
  "use strict";
  var desk = document.getElementById("desk");
  if (!desk || !window.EventSource || !window.fetch) { return; }
  var current = document.getElementById("current");
  var previous = document.getElementById("previous");
  var stateLabel = document.getElementById("agent-state");
  var PHASES = { waiting: "waiting in the queue", ringing: "ringing", connected: "connected", ended: "ended" };
  var shownCall = null;
  var latestPhase = null;
  var panel = current.querySelector("[data-call]");
  if (panel) { shownCall = panel.getAttribute("data-entry") || panel.getAttribute("data-call"); }
  var dirty = false;

  // The last few things the desk heard and did, for whoever debugs a desk (data-trace on #desk).
  var trace = [];
  function note(text) {
    trace.push(new Date().toISOString().slice(11, 23) + " " + text);
    if (trace.length > 12) { trace.shift(); }
    desk.setAttribute("data-trace", trace.join(" | "));
  }

  current.addEventListener("input", function () { dirty = true; });

  function setPhase(phase) {
    var section = current.querySelector("[data-call]");
    if (!section) { return; }
    section.setAttribute("data-phase", phase);
    var label = section.querySelector("[data-phase-label]");
    if (label && PHASES[phase]) {
      label.textContent = PHASES[phase];
      label.className = "state " + phase;
    }
  }

  function show(callId, phase, tries) {
    tries = tries || 0;
    fetch("/desk/call/" + encodeURIComponent(callId), { credentials: "same-origin" })
      .then(function (response) {
        note("panel " + callId + " " + response.status);
        if (!response.ok) { throw new Error("panel " + response.status); }
        return response.text();
      })
      .then(function (html) {
        var old = current.querySelector("[data-call]");
        if (old && dirty) { previous.insertBefore(old, previous.firstChild); }
        current.innerHTML = html;
        dirty = false;
        var fresh = current.querySelector("[data-call]");
        if (fresh) {
          fresh.setAttribute("data-entry", callId);
          fresh.setAttribute("data-shown-at", String(Date.now()));
        }
        setPhase(latestPhase || phase);
      })
      .catch(function () {
        // a call that has just ended is on its way to the database: ask again shortly
        if (tries < 10 && shownCall === callId) {
          window.setTimeout(function () { show(callId, phase, tries + 1); }, 500 + 250 * tries);
        } else if (shownCall === callId) {
          shownCall = null;
        }
      });
  }

  var source = new EventSource(desk.getAttribute("data-stream"));
  source.onmessage = function (event) {
    var msg = JSON.parse(event.data);
    note("event " + event.data);
    latestPhase = msg.phase;
    desk.setAttribute("data-live", "1");
    stateLabel.textContent = msg.words;
    stateLabel.className = "state " + msg.phase;
    if (msg.call && msg.call !== shownCall) {
      shownCall = msg.call;
      show(msg.call, msg.phase);
    } else if (msg.call) {
      setPhase(msg.phase);
    }
  };
  source.onerror = function () {
    note("stream error, state " + source.readyState);
    if (source.readyState === EventSource.CLOSED) {
      window.setTimeout(function () { window.location.reload(); }, 5000);
    }
  };
})();
