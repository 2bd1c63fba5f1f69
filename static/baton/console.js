/* Baton agent console: live updates over a websocket, everything else is htmx.
 *
 * The socket says what changed; panels redraw themselves from the server. New transcript
 * lines arrive rendered by the server's own template. Also: waiting timers, browser
 * notifications, a sound, a count in the tab title, presence heartbeats and idle
 * detection, Enter to send, and canned responses by shortcut.
 */
(function () {
  "use strict";

  var strings = JSON.parse((document.getElementById("console-strings") || { textContent: "{}" }).textContent);
  var conversationEl = document.getElementById("conversation");
  var conversationId = conversationEl ? Number(conversationEl.dataset.conversation) : null;
  var baseTitle = document.title;
  var socket = null;
  var attempts = 0;
  var lastActivity = Date.now();
  var idleSent = false;
  var IDLE_AFTER = 10 * 60 * 1000;

  function status(text) {
    var el = document.getElementById("console-status");
    if (!el) return;
    el.textContent = text || "";
    el.hidden = !text;
  }

  // Sound and notifications ---------------------------------------------------------------

  var soundOn = localStorage.getItem("baton:sound") !== "off";
  var soundButton = document.getElementById("sound-toggle");
  function showSound() {
    if (!soundButton) return;
    soundButton.textContent = soundOn ? strings.sound_on : strings.sound_off;
    soundButton.setAttribute("aria-pressed", String(soundOn));
  }
  if (soundButton) {
    soundButton.addEventListener("click", function () {
      soundOn = !soundOn;
      localStorage.setItem("baton:sound", soundOn ? "on" : "off");
      showSound();
    });
  }
  showSound();

  function chime() {
    if (!soundOn) return;
    try {
      var audio = new (window.AudioContext || window.webkitAudioContext)();
      var tone = audio.createOscillator();
      var gain = audio.createGain();
      tone.frequency.value = 880;
      gain.gain.setValueAtTime(0.15, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
      tone.connect(gain).connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 0.4);
    } catch (e) { /* no audio here */ }
  }

  var permissionButton = document.getElementById("notify-permission");
  if (permissionButton && "Notification" in window && Notification.permission === "default") {
    permissionButton.hidden = false;
    permissionButton.addEventListener("click", function () {
      Notification.requestPermission().then(function () { permissionButton.hidden = true; });
    });
  }

  function notify(title, body) {
    chime();
    if ("Notification" in window && Notification.permission === "granted" && document.hidden) {
      try { new Notification(title, { body: body || "" }); } catch (e) { /* some browsers */ }
    }
  }

  function waitingCount() {
    var queues = document.getElementById("queues");
    return queues ? Number(queues.dataset.waiting || 0) : 0;
  }

  function showCount() {
    var count = waitingCount();
    document.title = (count ? "(" + count + ") " : "") + baseTitle;
  }

  var knownWaiting = waitingCount();
  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "queues") {
      var now = waitingCount();
      if (now > knownWaiting) notify(strings.new_waiting);
      knownWaiting = now;
      showCount();
    }
    tick();
  });
  showCount();

  // Timers ------------------------------------------------------------------------------

  function tick() {
    var now = Date.now();
    document.querySelectorAll("time[data-since]").forEach(function (el) {
      var since = Date.parse(el.dataset.since);
      if (isNaN(since)) return;
      var seconds = Math.max(0, Math.round((now - since) / 1000));
      var minutes = Math.floor(seconds / 60);
      el.textContent = minutes >= 60
        ? Math.floor(minutes / 60) + "h" + String(minutes % 60).padStart(2, "0")
        : minutes + ":" + String(seconds % 60).padStart(2, "0");
    });
  }
  setInterval(tick, 1000);
  tick();

  // Socket ------------------------------------------------------------------------------

  function send(frame) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws/console/");
    socket.onopen = function () {
      attempts = 0;
      status("");
      if (conversationId) send({ type: "watch", conversation: conversationId });
      // Things may have changed while we were away.
      htmx.trigger(document.body, "queue-changed");
      if (conversationId) htmx.trigger(document.body, "conversation-changed");
    };
    socket.onmessage = function (event) {
      var frame = JSON.parse(event.data);
      switch (frame.type) {
        case "queue":
          htmx.trigger(document.body, "queue-changed");
          break;
        case "assigned":
          notify(strings.assigned);
          htmx.trigger(document.body, "queue-changed");
          break;
        case "unassigned":
          htmx.trigger(document.body, "queue-changed");
          break;
        case "line":
          if (frame.conversation === conversationId) addLine(frame);
          break;
        case "typing":
          showTyping(frame.active);
          break;
        case "changed":
          if (frame.conversation === conversationId) htmx.trigger(document.body, "conversation-changed");
          break;
        case "alert":
          notify(frame.text);
          break;
      }
    };
    socket.onclose = function (event) {
      if (event.code === 4403) return;
      status(strings.reconnecting);
      var delay = Math.min(30000, 500 * Math.pow(2, attempts++)) * (0.5 + Math.random() / 2);
      setTimeout(connect, delay);
    };
  }

  function addLine(frame) {
    var lines = document.getElementById("lines");
    if (!lines || lines.querySelector('[data-seq="' + frame.seq + '"]')) return;
    var holder = document.createElement("ol");
    holder.innerHTML = frame.html; // rendered by the server's template, escaped there
    var line = holder.firstElementChild;
    lines.appendChild(line);
    lines.scrollTop = lines.scrollHeight;
    line.scrollIntoView({ block: "nearest" });
    if (frame.author === "customer") {
      showTyping(false);
      if (document.hidden) notify(strings.new_waiting);
    }
  }

  function insertLine(lines, line) {
    var seq = Number(line.dataset.seq);
    var after = Array.prototype.find.call(lines.querySelectorAll("[data-seq]"), function (other) {
      return Number(other.dataset.seq) > seq;
    });
    lines.insertBefore(line, after || null);
  }

  // A transcript reload can be rendered before a message arrives and swapped in after it
  // was shown live: lines the reloaded transcript lacks are put back (messages are never
  // taken away, so a missing one is only one the reload had not seen yet).
  var liveLines = null;
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    var lines = document.getElementById("lines");
    if (!lines || !event.detail.target || !event.detail.target.contains(lines)) return;
    liveLines = Array.prototype.slice.call(lines.querySelectorAll("[data-seq]"));
  });
  document.body.addEventListener("htmx:afterSwap", function () {
    var lines = document.getElementById("lines");
    if (!liveLines || !lines) return;
    liveLines.forEach(function (line) {
      if (!lines.querySelector('[data-seq="' + line.dataset.seq + '"]')) insertLine(lines, line);
    });
    liveLines = null;
    lines.scrollTop = lines.scrollHeight;
  });

  var typingTimer = null;
  function showTyping(active) {
    var el = document.getElementById("customer-typing");
    if (!el) return;
    el.textContent = active ? strings.customer_typing : "";
    el.hidden = !active;
    clearTimeout(typingTimer);
    if (active) typingTimer = setTimeout(function () { showTyping(false); }, 15000);
  }

  // Presence: a heartbeat while the console is open, away when idle ---------------------

  setInterval(function () {
    send({ type: "ping" });
    if (!idleSent && Date.now() - lastActivity > IDLE_AFTER) {
      idleSent = true;
      send({ type: "presence", presence: "away" });
    }
  }, 30000);
  ["mousemove", "keydown", "click", "focus"].forEach(function (name) {
    window.addEventListener(name, function () {
      lastActivity = Date.now();
      if (idleSent) {
        idleSent = false;
        send({ type: "presence", presence: "online" });
      }
    }, { passive: true });
  });

  // Composer: Enter sends, typing is shown to the customer, /shortcuts expand -----------

  var canned = JSON.parse((document.getElementById("canned-responses") || { textContent: "[]" }).textContent || "[]");
  var typingSent = 0;

  document.body.addEventListener("keydown", function (event) {
    var box = event.target;
    if (!(box instanceof HTMLTextAreaElement) || box.id !== "reply-body") return;
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (box.value.trim()) box.form.requestSubmit();
      send({ type: "typing", active: false });
      typingSent = 0;
    } else if (event.key === "Tab" && expandShortcut(box)) {
      event.preventDefault();
    }
  });

  document.body.addEventListener("input", function (event) {
    if (event.target.id !== "reply-body") return;
    var now = Date.now();
    if (now - typingSent > 3000) {
      send({ type: "typing", active: true });
      typingSent = now;
    }
  });

  function expandShortcut(box) {
    var before = box.value.slice(0, box.selectionStart);
    var match = before.match(/(?:^|\s)\/([\w-]+)$/);
    if (!match) return false;
    var found = canned.find(function (c) { return c.shortcut === match[1]; });
    if (!found) return false;
    var start = box.selectionStart - match[1].length - 1;
    box.value = box.value.slice(0, start) + found.body + box.value.slice(box.selectionStart);
    box.selectionStart = box.selectionEnd = start + found.body.length;
    return true;
  }

  // Every action re-renders the actions panel. What the agent has typed there survives it
  // (they may start while "Accept and join" is on its way), except in the form just sent,
  // unless the server refused it.
  var drafts = null;
  function targetsActions(event) {
    return Boolean(event.detail.target && event.detail.target.id === "actions");
  }
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    if (!targetsActions(event)) return;
    drafts = { typed: {}, focused: document.activeElement && document.activeElement.id };
    document.querySelectorAll("#actions textarea[id]").forEach(function (box) {
      if (box.value !== box.defaultValue) drafts.typed[box.id] = box.value;
    });
  });
  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (!targetsActions(event) || !drafts) return;
    var sent = event.detail.requestConfig && event.detail.requestConfig.path;
    var refused = Boolean(document.querySelector("#actions .error"));
    document.querySelectorAll("#actions textarea[id]").forEach(function (box) {
      var justSent = box.form && box.form.getAttribute("hx-post") === sent;
      if (box.id in drafts.typed && (!justSent || refused)) box.value = drafts.typed[box.id];
    });
    var focus = drafts.focused && document.getElementById(drafts.focused);
    // After joining, or sending a reply, the composer has the focus for the next one.
    if (/\/(claim|reply)\/$/.test(sent || "")) focus = document.getElementById("reply-body");
    if (focus && focus.closest("#actions")) focus.focus();
    drafts = null;
  });

  if (window.WebSocket && window.htmx) connect();
})();
