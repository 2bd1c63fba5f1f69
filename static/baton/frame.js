/* Baton chat, inside the iframe the loader adds to the host page.
 *
 * Talks to Baton over one websocket (docs/widget-protocol.md) and to the host page over
 * postMessage. Message HTML comes from the server already sanitised; everything else is
 * set with textContent. Nothing typed is lost: unsent messages wait in localStorage with
 * their client_id and are sent once when the socket is back.
 */
(function () {
  "use strict";

  var strings = JSON.parse(document.getElementById("baton-strings").textContent);
  var config = JSON.parse(document.getElementById("baton-config").textContent);
  var storeKey = "baton:" + config.site + ":";
  var embedded = window.parent !== window;

  var el = {
    log: document.getElementById("log"),
    empty: document.getElementById("empty"),
    status: document.getElementById("status"),
    banner: document.getElementById("banner"),
    typing: document.getElementById("typing"),
    form: document.getElementById("composer"),
    input: document.getElementById("input"),
    close: document.getElementById("close"),
    template: document.getElementById("message-template"),
    handoff: document.getElementById("handoff"),
    handoffText: document.getElementById("handoff-text"),
    followup: document.getElementById("followup"),
    followupEmail: document.getElementById("followup-email"),
    rating: document.getElementById("rating"),
    ratingForm: document.getElementById("rating-form"),
    ratingThanks: document.getElementById("rating-thanks"),
  };

  // Storage survives reloads; a browser that refuses it still chats for this page view.
  var memory = {};
  function load(name, fallback) {
    try {
      var raw = window.localStorage.getItem(storeKey + name);
      return raw === null ? fallback : JSON.parse(raw);
    } catch (e) {
      return name in memory ? memory[name] : fallback;
    }
  }
  function save(name, value) {
    memory[name] = value;
    try { window.localStorage.setItem(storeKey + name, JSON.stringify(value)); } catch (e) { /* private mode */ }
  }

  // Opened from an email link: this browser now belongs to that conversation's customer.
  if (config.token) {
    save("token", config.token);
    save("conversation", config.conversation);
  }

  var state = {
    socket: null,
    ready: false,
    attempts: 0,
    token: load("token", ""),
    conversation: load("conversation", null),
    // Sequence numbers this page has shown; a reload starts from 0 and fetches everything.
    lastSeq: 0,
    outbox: load("outbox", []),
    rendered: {},          // seq -> element
    pending: {},           // client_id -> element
    page: null,
    context: {},
    identity: null,
    open: !embedded,
    unread: 0,
    pingTimer: null,
    pongDeadline: null,
    typingSent: 0,
    typingStop: null,
    typingHide: null,
  };

  function format(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (_, key) { return values[key]; });
  }

  function clientId() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return "c" + Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
  }

  function setStatus(text) { el.status.textContent = text; }

  function showBanner(text) {
    el.banner.textContent = text;
    el.banner.hidden = !text;
  }

  // Rendering ---------------------------------------------------------------------------

  var timeFormat = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
    hour: "2-digit", minute: "2-digit",
  });

  function authorLabel(frame) {
    if (frame.author === "customer") return strings.you;
    if (frame.author === "ai") return strings.assistant;
    if (frame.author === "agent") return frame.author_name || strings.agent;
    return strings.system;
  }

  function messageElement(frame) {
    var node = el.template.content.firstElementChild.cloneNode(true);
    node.classList.add("from-" + frame.author);
    node.querySelector(".message-author").textContent = authorLabel(frame);
    var time = node.querySelector(".message-time");
    var when = frame.created_at ? new Date(frame.created_at) : new Date();
    time.dateTime = when.toISOString();
    time.textContent = timeFormat.format(when);
    var body = node.querySelector(".message-body");
    if (frame.html) {
      body.innerHTML = frame.html; // sanitised by the server (chat/markdown.py)
    } else {
      body.textContent = frame.body;
    }
    return node;
  }

  function append(node) {
    el.empty.hidden = true;
    var nearBottom = el.log.scrollHeight - el.log.scrollTop - el.log.clientHeight < 80;
    el.log.appendChild(node);
    if (nearBottom || node.classList.contains("from-customer")) {
      el.log.scrollTop = el.log.scrollHeight;
    }
  }

  function insertBySeq(node, seq) {
    node.dataset.seq = String(seq);
    var items = el.log.querySelectorAll("li.message[data-seq]");
    for (var i = 0; i < items.length; i++) {
      if (Number(items[i].dataset.seq) > seq) {
        el.log.insertBefore(node, items[i]);
        el.empty.hidden = true;
        return;
      }
    }
    // Confirmed messages go before messages still waiting to be sent.
    var firstPending = el.log.querySelector("li.message.pending");
    if (firstPending) {
      el.log.insertBefore(node, firstPending);
      el.empty.hidden = true;
    } else {
      append(node);
    }
  }

  // An answer being written: one provisional bubble per customer message.
  // The stored message replaces it; one whose message never comes (the conversation went
  // to a person meanwhile) goes after a minute.
  var drafts = {};
  var DRAFT_LIFETIME_MS = 60000;
  function showDraft(frame) {
    var draft = drafts[frame.reply_to];
    if (!draft) {
      var node = messageElement({ author: "ai", body: "" });
      node.classList.add("draft");
      node.setAttribute("aria-busy", "true");
      draft = drafts[frame.reply_to] = { node: node, timer: null };
      append(node);
    }
    // Sanitised on the server, like every message body.
    draft.node.querySelector(".message-body").innerHTML = frame.html;
    clearTimeout(draft.timer);
    draft.timer = setTimeout(function () { dropDraft(frame.reply_to); }, DRAFT_LIFETIME_MS);
    hideTyping();
  }

  function dropDraft(replyTo) {
    var draft = drafts[replyTo];
    if (!draft) return;
    clearTimeout(draft.timer);
    draft.node.remove();
    delete drafts[replyTo];
  }

  function dropAllDrafts() {
    Object.keys(drafts).forEach(dropDraft);
  }

  function receiveMessage(frame) {
    if (frame.reply_to) dropDraft(frame.reply_to);
    if (state.rendered[frame.seq]) return; // already shown: a resend or a resume overlap
    var node = messageElement(frame);
    var pending = frame.client_id && state.pending[frame.client_id];
    if (pending) {
      pending.replaceWith(node);
      delete state.pending[frame.client_id];
      dropFromOutbox(frame.client_id);
    }
    insertBySeq(node, frame.seq);
    state.rendered[frame.seq] = node;
    if (frame.seq === state.lastSeq + 1) {
      advance(frame.seq);
    } else if (frame.seq > state.lastSeq + 1) {
      // A gap: something was missed while this tab was busy. Ask for it.
      send({ type: "resume", after: state.lastSeq });
    }
    if (frame.author !== "customer") {
      hideTyping();
      if (!state.open || document.hidden) {
        state.unread += 1;
        tellHost({ type: "baton:unread", count: state.unread });
      }
      tellHost({ type: "baton:event", name: "message", detail: { author: frame.author } });
    }
  }

  function advance(seq) {
    var next = seq;
    while (state.rendered[next + 1]) next += 1;
    state.lastSeq = Math.max(state.lastSeq, next);
  }

  function showPending(item, note) {
    var node = state.pending[item.client_id];
    if (!node) {
      node = messageElement({ author: "customer", body: item.body });
      node.classList.add("pending");
      state.pending[item.client_id] = node;
      append(node);
    }
    node.querySelector(".message-state").textContent = note || strings.sending;
    return node;
  }

  function resetLog() {
    var items = el.log.querySelectorAll("li.message:not(.pending)");
    for (var i = 0; i < items.length; i++) items[i].remove();
    state.rendered = {};
    state.lastSeq = 0;
    el.empty.hidden = el.log.querySelector("li.message") !== null;
  }

  function showTyping(frame) {
    var text = frame.author === "ai"
      ? strings.ai_typing
      : format(strings.someone_typing, { name: frame.name || strings.agent });
    el.typing.textContent = text;
    el.typing.hidden = !frame.active;
    clearTimeout(state.typingHide);
    if (frame.active) state.typingHide = setTimeout(hideTyping, 15000);
  }

  function hideTyping() {
    el.typing.hidden = true;
    el.typing.textContent = "";
  }

  // Outbox --------------------------------------------------------------------------------

  function dropFromOutbox(id) {
    state.outbox = state.outbox.filter(function (item) { return item.client_id !== id; });
    save("outbox", state.outbox);
  }

  function flushOutbox() {
    state.outbox.forEach(function (item) {
      if (item.waitUntil && item.waitUntil > Date.now()) return;
      showPending(item);
      send({ type: "message", client_id: item.client_id, body: item.body, page: item.page || state.page });
    });
  }

  function submit(body) {
    showRating(false);
    var item = { client_id: clientId(), body: body, page: state.page };
    state.outbox.push(item);
    save("outbox", state.outbox);
    showPending(item, state.ready ? strings.sending : strings.retry_later);
    if (state.ready) {
      send({ type: "message", client_id: item.client_id, body: body, page: state.page });
    }
    stopTyping();
  }

  // Socket --------------------------------------------------------------------------------

  function socketUrl() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + window.location.host + config.socket_path;
  }

  function send(frame) {
    if (state.socket && state.socket.readyState === WebSocket.OPEN) {
      state.socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  function connect() {
    clearTimeout(state.reconnectTimer);
    var socket;
    try {
      socket = new WebSocket(socketUrl());
    } catch (e) {
      scheduleReconnect();
      return;
    }
    state.socket = socket;
    socket.onopen = function () {
      socket.send(JSON.stringify({
        type: "hello",
        token: state.token || undefined,
        conversation: state.conversation || undefined,
        last_seq: state.lastSeq,
        page: state.page || undefined,
        context: state.context,
        identity: state.identity || undefined,
      }));
      startHeartbeat();
    };
    socket.onmessage = function (event) {
      state.pongDeadline = null;
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      handle(frame);
    };
    socket.onclose = function (event) {
      if (state.socket !== socket) return;
      state.ready = false;
      stopHeartbeat();
      if (event.code === 4403 || event.code === 4404) {
        setStatus(strings.offline);
        return; // refused for good: this page may not use this site
      }
      setStatus(navigator.onLine === false ? strings.offline : strings.reconnecting);
      scheduleReconnect();
    };
    socket.onerror = function () { /* onclose follows and reconnects */ };
  }

  function scheduleReconnect() {
    // Exponential back-off with jitter, so a restarted server is not stampeded.
    var delay = Math.min(30000, 500 * Math.pow(2, state.attempts)) * (0.5 + Math.random() / 2);
    state.attempts += 1;
    state.reconnectTimer = setTimeout(connect, delay);
  }

  function startHeartbeat() {
    stopHeartbeat();
    // A Wi-Fi that drops may never deliver a close: a ping that gets no answer in
    // ten seconds means the connection is dead, so it is dropped and remade.
    state.pingTimer = setInterval(function () {
      if (state.pongDeadline && Date.now() > state.pongDeadline) {
        var dead = state.socket;
        state.socket = null;
        state.ready = false;
        stopHeartbeat();
        try { dead.close(); } catch (e) { /* already gone */ }
        setStatus(strings.reconnecting);
        scheduleReconnect();
        return;
      }
      if (send({ type: "ping" }) && !state.pongDeadline) {
        state.pongDeadline = Date.now() + 10000;
      }
    }, 20000);
  }

  function stopHeartbeat() {
    clearInterval(state.pingTimer);
    state.pongDeadline = null;
  }

  function handle(frame) {
    switch (frame.type) {
      case "welcome":
        state.ready = true;
        state.attempts = 0;
        state.token = frame.token;
        save("token", frame.token);
        setStatus(strings.online);
        showBanner("");
        adoptConversation(frame.conversation);
        if (!frame.conversation) flushOutbox();
        break;
      case "conversation":
        adoptConversation(frame);
        break;
      case "history":
        frame.messages.forEach(receiveMessage);
        flushOutbox();
        break;
      case "message":
        receiveMessage(frame);
        break;
      case "ack":
        acknowledge(frame);
        break;
      case "typing":
        showTyping(frame);
        break;
      case "stream":
        showDraft(frame);
        break;
      case "state":
        if (frame.state !== "ai") dropAllDrafts();
        if (frame.state === "ai" || frame.state === "resolved") showHandoff(null);
        showRating(frame.state === "resolved" && !frame.rated);
        tellHost({ type: "baton:event", name: "state", detail: { state: frame.state } });
        break;
      case "rated":
        el.ratingForm.hidden = true;
        el.ratingThanks.hidden = false;
        break;
      case "status":
        showHandoff(frame);
        break;
      case "error":
        failed(frame);
        break;
      case "pong":
        break;
    }
  }

  function adoptConversation(conversation) {
    var id = conversation ? conversation.id : null;
    if (id && id !== state.conversation) {
      if (state.conversation) resetLog();
      state.conversation = id;
      save("conversation", id);
    }
  }

  function acknowledge(frame) {
    dropFromOutbox(frame.client_id);
    var node = state.pending[frame.client_id];
    if (node) node.querySelector(".message-state").textContent = strings.sent;
  }

  function failed(frame) {
    var item = frame.client_id && state.outbox.find(function (i) { return i.client_id === frame.client_id; });
    if (item && frame.code === "rate_limited") {
      item.waitUntil = Date.now() + (frame.retry_after || 5) * 1000;
      save("outbox", state.outbox);
      showPending(item, strings.retry_later);
      setTimeout(flushOutbox, (frame.retry_after || 5) * 1000 + 50);
      return;
    }
    if (item) {
      // The server refused this message for what it is: keep the words, say why.
      dropFromOutbox(item.client_id);
      var node = showPending(item, strings.not_sent + ": " + frame.message);
      node.classList.add("failed");
      delete state.pending[item.client_id];
      if (!el.input.value) el.input.value = item.body;
      return;
    }
    showBanner(frame.message);
  }

  // With a human ---------------------------------------------------------------------------

  function showHandoff(frame) {
    // The customer always sees where they stand: team, place in line, wait, or the promise.
    el.handoff.hidden = !frame;
    if (!frame) return;
    // The same words again (a queue refresh that changed nothing) are not set again, so a
    // screen reader does not read them out once more.
    if (el.handoffText.textContent !== frame.text) el.handoffText.textContent = frame.text;
    el.followup.hidden = !frame.ask_email;
  }

  el.followup.addEventListener("submit", function (event) {
    event.preventDefault();
    var email = el.followupEmail.value.trim();
    if (email) send({ type: "followup", email: email });
  });

  // Rating ------------------------------------------------------------------------------

  function showRating(visible) {
    el.rating.hidden = !visible;
    if (visible) {
      el.ratingForm.hidden = false;
      el.ratingThanks.hidden = true;
    }
  }

  el.ratingForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var chosen = el.ratingForm.querySelector('input[name="score"]:checked');
    if (!chosen) return;
    send({
      type: "rating",
      score: Number(chosen.value),
      comment: document.getElementById("rating-comment").value.trim(),
    });
  });

  // Typing ------------------------------------------------------------------------------

  function typed() {
    var now = Date.now();
    if (now - state.typingSent > 3000) {
      send({ type: "typing", active: true });
      state.typingSent = now;
    }
    clearTimeout(state.typingStop);
    state.typingStop = setTimeout(stopTyping, 4000);
  }

  function stopTyping() {
    clearTimeout(state.typingStop);
    if (state.typingSent) send({ type: "typing", active: false });
    state.typingSent = 0;
  }

  // Host page ---------------------------------------------------------------------------

  function tellHost(message) {
    if (embedded) window.parent.postMessage(message, "*");
  }

  window.addEventListener("message", function (event) {
    if (event.source !== window.parent || !event.data || typeof event.data.type !== "string") return;
    var data = event.data;
    switch (data.type) {
      case "baton:page":
        state.page = data.page;
        send({ type: "page", page: data.page });
        break;
      case "baton:context":
        Object.assign(state.context, data.context || {});
        send({ type: "context", context: data.context || {} });
        break;
      case "baton:identify":
        state.identity = data.identity;
        send({ type: "identify", identity: data.identity });
        break;
      case "baton:open":
        state.open = true;
        state.unread = 0;
        tellHost({ type: "baton:unread", count: 0 });
        el.input.focus();
        break;
      case "baton:close":
        state.open = false;
        break;
    }
  });

  // Composer ----------------------------------------------------------------------------

  function autosize() {
    el.input.style.height = "auto";
    el.input.style.height = Math.min(el.input.scrollHeight, 160) + "px";
  }

  el.input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      el.form.requestSubmit ? el.form.requestSubmit() : el.form.dispatchEvent(new Event("submit"));
    }
  });
  el.input.addEventListener("input", function () {
    autosize();
    if (el.input.value.trim()) typed();
  });
  el.form.addEventListener("submit", function (event) {
    event.preventDefault();
    var body = el.input.value.trim();
    if (!body) return;
    if (body.length > config.max_chars) {
      showBanner(strings.too_long);
      return;
    }
    el.input.value = "";
    autosize();
    submit(body);
  });
  // "Did you mean": a tap on an offered article asks for it by its title.
  el.log.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button.suggestion");
    if (!button || button.disabled) return;
    button.parentNode.querySelectorAll("button").forEach(function (other) { other.disabled = true; });
    button.setAttribute("aria-pressed", "true");
    submit(button.getAttribute("data-say"));
    // The pressed button is disabled now: keyboard users go on typing in the box. A tap
    // does not move there, which on a phone would open the keyboard over the answer.
    if (event.detail === 0) el.input.focus();
  });
  function requestClose() {
    // Closed from here on: a reply that arrives before the page confirms is unread.
    state.open = false;
    tellHost({ type: "baton:close-request" });
  }
  el.close.addEventListener("click", requestClose);
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") requestClose();
  });
  if (!embedded) el.close.hidden = true;

  window.addEventListener("online", function () {
    if (!state.ready) { state.attempts = 0; connect(); }
  });
  window.addEventListener("offline", function () { setStatus(strings.offline); });

  // Without a host page (the frame opened on its own) the page is this one.
  if (!embedded) {
    state.page = { path: window.location.pathname, title: document.title, url: window.location.href };
  }
  state.outbox.forEach(function (item) { showPending(item, strings.retry_later); });
  connect();
  tellHost({ type: "baton:ready" });
})();
