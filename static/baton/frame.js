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
    notice: document.getElementById("notice"),
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
    inflight: {},          // client_id -> {tries}: sent on this socket, no ack yet
    page: null,
    // What the server accepted from Baton.setContext and Baton.identify; values it has not
    // answered yet wait in `unsure` ({kind, value, hello}) and are kept once it has.
    context: {},
    identity: null,
    unsure: [],
    waiters: [],           // one per ping sent on this socket, called on its pong
    open: !embedded,
    // Per conversation, kept across pages: the highest seq read with the panel open, and
    // the highest seq announced to the host page (a `message` event), so neither a reload
    // nor the next page counts or announces a message again.
    seen: load("seen", {}),
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

  // The time alone for today's messages; the date as well for older ones.
  var formats = {};
  function formatTime(when) {
    var now = new Date();
    var key = when.toDateString() === now.toDateString() ? "t"
      : when.getFullYear() === now.getFullYear() ? "d" : "y";
    if (!formats[key]) {
      var options = { hour: "2-digit", minute: "2-digit" };
      if (key !== "t") { options.month = "short"; options.day = "numeric"; }
      if (key === "y") options.year = "numeric";
      formats[key] = new Intl.DateTimeFormat(document.documentElement.lang || undefined, options);
    }
    return formats[key].format(when);
  }

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
    time.textContent = formatTime(when);
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
    if (frame.author !== "customer") hideTyping();
    if (frame.seq > (state.seen.shown || 0)) {
      // New to this browser: a page load that shows it again does not announce it again.
      state.seen.shown = frame.seq;
      remember();
      if (frame.author !== "customer") {
        tellHost({ type: "baton:event", name: "message", detail: { author: frame.author } });
      }
    }
  }

  // Read and unread -------------------------------------------------------------------------

  function remember() {
    // Another tab may have read further: keep the higher numbers.
    var stored = load("seen", {});
    if (stored.id === state.seen.id) {
      state.seen.read = Math.max(stored.read || 0, state.seen.read || 0);
      state.seen.shown = Math.max(stored.shown || 0, state.seen.shown || 0);
    }
    save("seen", state.seen);
  }

  function track(conversation, base) {
    // A conversation this browser has not followed before: what it held already (after a
    // sign-in, say) counts as read; one started here (base 0) is new from its first line.
    var stored = load("seen", {});
    state.seen = stored.id === conversation ? stored : { id: conversation, read: base, shown: base };
    save("seen", state.seen);
  }

  // Messages from others beyond the last one read while the panel was open: the count on
  // the launcher. Called after every change; tells the host page only when it changed.
  function markRead() {
    if (state.open && !document.hidden && state.lastSeq > (state.seen.read || 0)) {
      state.seen.read = state.lastSeq;
      remember();
    }
    var count = 0;
    Object.keys(state.rendered).forEach(function (seq) {
      if (Number(seq) > (state.seen.read || 0) &&
          !state.rendered[seq].classList.contains("from-customer")) count += 1;
    });
    if (count !== state.unread) {
      state.unread = count;
      tellHost({ type: "baton:unread", count: count });
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
      node.dataset.clientId = item.client_id;
      state.pending[item.client_id] = node;
      append(node);
    }
    node.querySelector(".message-state").textContent = note || strings.sending;
    node.classList.toggle("failed", !!item.failed);
    node.querySelector(".message-retry").hidden = !item.failed;
    return node;
  }

  // Said in a live region of its own: a note changed inside the log is not read out.
  function announce(text) {
    el.notice.textContent = "";
    setTimeout(function () { el.notice.textContent = text; }, 50);
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
    delete state.inflight[id];
    state.outbox = state.outbox.filter(function (item) { return item.client_id !== id; });
    save("outbox", state.outbox);
  }

  function flushOutbox() {
    if (!state.ready) return; // the next welcome sends them
    state.outbox.forEach(function (item) {
      if (item.failed || state.inflight[item.client_id]) return;
      if (item.waitUntil && item.waitUntil > Date.now()) return;
      sendItem(item);
    });
  }

  // A message with no ack after a while is sent again on the same socket (an error on our
  // side may not say which message it was; the client_id makes a copy harmless). After
  // three sends it is "Not sent", with a button to try again.
  var ACK_TIMEOUT_MS = 5000;
  var SENDS = 3;
  function sendItem(item) {
    var flight = state.inflight[item.client_id] || (state.inflight[item.client_id] = { tries: 0 });
    var tries = flight.tries += 1;
    showPending(item);
    send({ type: "message", client_id: item.client_id, body: item.body, page: item.page || state.page });
    setTimeout(function () {
      // Answered meanwhile, or the socket is gone (the next one sends the outbox again).
      if (state.inflight[item.client_id] !== flight || flight.tries !== tries || !state.ready) return;
      if (tries < SENDS) {
        sendItem(item);
        return;
      }
      delete state.inflight[item.client_id];
      item.failed = true;
      save("outbox", state.outbox);
      showPending(item, strings.not_sent);
      announce(strings.not_sent);
    }, ACK_TIMEOUT_MS);
  }

  function retry(node) {
    var item = state.outbox.find(function (i) { return i.client_id === node.dataset.clientId; });
    if (!item) return;
    item.failed = false;
    save("outbox", state.outbox);
    if (state.ready) sendItem(item);
    else showPending(item, strings.retry_later);
  }

  function submit(body) {
    showRating(false);
    var item = { client_id: clientId(), body: body, page: state.page };
    state.outbox.push(item);
    save("outbox", state.outbox);
    if (state.ready) sendItem(item);
    else showPending(item, strings.retry_later);
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

  // A ping whose pong comes after everything the server had to say about earlier frames.
  function ping(then) {
    var sent = send({ type: "ping" });
    if (sent) state.waiters.push(then);
    return sent;
  }

  function connect() {
    clearTimeout(state.reconnectTimer);
    // One socket at a time: one still connecting (the browser said it is back online) is
    // given up for the new one.
    var previous = state.socket;
    state.socket = null;
    state.ready = false;
    state.flushed = false;
    state.inflight = {};
    state.waiters = [];
    if (previous) {
      try { previous.close(); } catch (e) { /* already gone */ }
    }
    var socket;
    try {
      socket = new WebSocket(socketUrl());
    } catch (e) {
      scheduleReconnect();
      return;
    }
    state.socket = socket;
    socket.onopen = function () {
      if (state.socket !== socket) return;
      // The context and identity this socket asks for: what was accepted, with what is
      // still waiting for an answer on top.
      var context = merge({}, state.context);
      var identity = state.identity;
      state.unsure.forEach(function (entry) {
        entry.hello = socket;
        if (entry.kind === "context") merge(context, entry.value);
        else identity = entry.value;
      });
      socket.send(JSON.stringify({
        type: "hello",
        token: state.token || undefined,
        conversation: state.conversation || undefined,
        last_seq: state.lastSeq,
        page: state.page || undefined,
        context: context,
        identity: identity || undefined,
      }));
      startHeartbeat();
    };
    socket.onmessage = function (event) {
      if (state.socket !== socket) return;
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
      if (ping() && !state.pongDeadline) {
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
        var first = !state.ready;
        state.ready = true;
        state.attempts = 0;
        state.token = frame.token;
        save("token", frame.token);
        setStatus(strings.online);
        showBanner("");
        adoptConversation(frame.conversation, frame.conversation && frame.conversation.last_seq);
        if (first) {
          // Errors about the hello came before its welcome: what it carried and is still
          // here was accepted. Values that came after the hello go now.
          state.unsure.slice().forEach(function (entry) {
            if (entry.hello === state.socket) accept(entry);
            else offer(entry);
          });
        }
        if (!frame.conversation) flushOnce();
        break;
      case "conversation":
        adoptConversation(frame, 0);
        break;
      case "history":
        var before = state.lastSeq;
        frame.messages.forEach(receiveMessage);
        // A history holds at most 200 messages: ask for the rest until caught up.
        if (frame.last_seq > state.lastSeq && state.lastSeq > before) {
          send({ type: "resume", after: state.lastSeq });
        }
        markRead();
        flushOnce();
        break;
      case "message":
        receiveMessage(frame);
        markRead();
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
        var then = state.waiters.shift();
        if (then) then();
        break;
    }
  }

  // The outbox goes once per socket, after the hello's history (or a welcome without a
  // conversation); later histories (resumes) do not send it again.
  function flushOnce() {
    if (state.flushed) return;
    state.flushed = true;
    flushOutbox();
  }

  function adoptConversation(conversation, base) {
    var id = conversation ? conversation.id : null;
    if (id && id !== state.conversation) {
      if (state.conversation) resetLog();
      state.conversation = id;
      save("conversation", id);
    }
    if (id && state.seen.id !== id) track(id, base || 0);
  }

  function acknowledge(frame) {
    dropFromOutbox(frame.client_id);
    var node = state.pending[frame.client_id];
    if (node) node.querySelector(".message-state").textContent = strings.sent;
    // "Something went wrong" no longer holds once a message got through.
    if (el.banner.textContent === state.serverError) showBanner("");
  }

  function failed(frame) {
    var item = frame.client_id && state.outbox.find(function (i) { return i.client_id === frame.client_id; });
    if (item && frame.code === "rate_limited") {
      delete state.inflight[item.client_id];
      item.waitUntil = Date.now() + (frame.retry_after || 5) * 1000;
      save("outbox", state.outbox);
      showPending(item, strings.retry_later);
      setTimeout(flushOutbox, (frame.retry_after || 5) * 1000 + 50);
      return;
    }
    // Our fault, not the message's: it is sent again when its ack does not come.
    if (item && frame.code === "server_error") return;
    if (item) {
      // The server refused this message for what it is: keep the words, say why.
      dropFromOutbox(item.client_id);
      var note = strings.not_sent + ": " + frame.message;
      var node = showPending(item, note);
      node.classList.add("failed");
      delete state.pending[item.client_id];
      if (!el.input.value) el.input.value = item.body;
      announce(note);
      return;
    }
    var kind = /^identity/.test(frame.code) || /^identity/.test(frame.field) ? "identity"
      : /^context/.test(frame.field) ? "context" : "";
    if (kind) {
      // The host page's mistake, not the visitor's: forget the value so it is not sent
      // again, and tell the page's developer.
      refuse(kind);
      if (window.console) console.warn("Baton: " + frame.message);
      return;
    }
    if (frame.code === "server_error") state.serverError = frame.message;
    showBanner(frame.message);
  }

  // Context and identity from the host page ---------------------------------------------------

  // The server's limits (chat/frames.py): at most 30 facts, keys of 1 to 60 characters,
  // values of text (500 characters are kept), numbers or true/false. null removes a fact.
  var MAX_FACTS = 30;
  function facts(value) {
    var clean = {};
    if (!value || typeof value !== "object" || Array.isArray(value)) return clean;
    Object.keys(value).forEach(function (key) {
      var item = value[key];
      var kind = typeof item;
      if (!key || key.length > 60 || /\u0000/.test(key) ||
          !(item === null || kind === "boolean" || kind === "string" || (kind === "number" && isFinite(item)))) {
        if (window.console) console.warn("Baton: setContext left out \"" + key + "\" (a flat object of short text, number or true/false values is expected).");
        return;
      }
      clean[key] = kind === "string" ? item.replace(/\u0000/g, "").slice(0, 500) : item;
    });
    return clean;
  }

  // Facts set later win; the oldest go when there are more than the server takes.
  function merge(into, more) {
    Object.keys(more).forEach(function (key) {
      delete into[key];
      if (more[key] !== null) into[key] = more[key];
    });
    return cap(into);
  }

  function cap(facts) {
    var keys = Object.keys(facts);
    while (keys.length > MAX_FACTS || (keys.length && bytes(facts) > 24000)) {
      delete facts[keys.shift()];
    }
    return facts;
  }

  // A hello carries context, identity and page together, and a frame over 64 KB is refused.
  function bytes(value) {
    return new TextEncoder().encode(JSON.stringify(value) || "").length;
  }

  // A token as it is (the server checks it); of an object only the fields the server reads,
  // so nothing nested deep or large can make the hello unreadable.
  function identityOf(value) {
    if (!value || typeof value !== "object") return value;
    var picked = {};
    ["user_id", "user_hash", "name", "email"].forEach(function (key) {
      if (typeof value[key] === "string" || typeof value[key] === "number") picked[key] = value[key];
    });
    return picked;
  }

  function offer(entry) {
    if (state.unsure.indexOf(entry) < 0) state.unsure.push(entry);
    if (!state.ready) return; // goes with the next hello
    entry.hello = null;
    send(entry.kind === "context"
      ? { type: "context", context: entry.value }
      : { type: "identify", identity: entry.value });
    // An error about it comes before the pong: no error, accepted.
    ping(function () { accept(entry); });
  }

  function accept(entry) {
    var index = state.unsure.indexOf(entry);
    if (index < 0) return; // refused meanwhile
    state.unsure.splice(index, 1);
    if (entry.kind === "context") merge(state.context, entry.value);
    else state.identity = entry.value;
  }

  function refuse(kind) {
    // Refused in a hello: everything of this kind the hello carried goes. Refused later:
    // the oldest value of this kind still waiting (frames are answered in order). With
    // nothing waiting, the accepted value itself was refused (an identity that expired).
    var inHello = !state.ready;
    var dropped = 0;
    state.unsure = state.unsure.filter(function (entry) {
      var drop = entry.kind === kind && (inHello ? entry.hello === state.socket : !dropped);
      if (drop) dropped += 1;
      return !drop;
    });
    if (dropped) return;
    if (kind === "context") state.context = {};
    else state.identity = null;
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

  // The loader reports every navigation and title change. A new path, query or hash is a
  // new page; with a hash router (#/orders/12) the hash is part of its path. A new title at
  // the same address counts only in the two seconds after it: an app that sets the title
  // after pushState is followed, one whose title blinks "(1) Inbox" adds no visits.
  var TITLE_FOLLOW_MS = 2000;
  function pageChanged(page) {
    var now = Date.now();
    if (state.page && page.url === state.page.url) {
      if (page.title === state.page.title || now > state.titleUntil) return;
    } else {
      state.titleUntil = now + TITLE_FOLLOW_MS;
    }
    state.page = page;
    send({ type: "page", page: page });
  }

  // Cut to what the server keeps, so an odd page (a huge URL) cannot make a frame too large.
  function pageInfo(page) {
    page = page || {};
    function text(value, limit) { return String(value || "").replace(/\u0000/g, "").slice(0, limit); }
    var url = text(page.url, 2000);
    var hash = url.indexOf("#") < 0 ? "" : url.slice(url.indexOf("#"));
    return {
      path: ((text(page.path, 1000) || "/") + (/^#!?\//.test(hash) ? hash : "")).slice(0, 1000),
      title: text(page.title, 300),
      url: url,
      referrer: text(page.referrer, 2000),
    };
  }

  window.addEventListener("message", function (event) {
    if (event.source !== window.parent || !event.data || typeof event.data.type !== "string") return;
    var data = event.data;
    switch (data.type) {
      case "baton:page":
        pageChanged(pageInfo(data.page));
        break;
      case "baton:context":
        var context = cap(facts(data.context));
        if (Object.keys(context).length) offer({ kind: "context", value: context });
        break;
      case "baton:identify":
        var identity = identityOf(data.identity);
        if (bytes(identity) > 8192) {
          if (window.console) console.warn("Baton: identify() was given more than 8 KB; it is left out.");
        } else {
          offer({ kind: "identity", value: identity });
        }
        break;
      case "baton:open":
        state.open = true;
        markRead();
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
    var again = event.target.closest && event.target.closest("button.message-retry");
    if (again) {
      retry(again.closest("li.message"));
      // The button hides as the message goes again: keyboard users carry on in the box.
      if (event.detail === 0) el.input.focus();
      return;
    }
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
  document.addEventListener("visibilitychange", markRead);
  window.addEventListener("offline", function () { setStatus(strings.offline); });

  // Without a host page (the frame opened on its own) the page is this one.
  if (!embedded) {
    state.page = { path: window.location.pathname, title: document.title, url: window.location.href };
  }
  state.outbox.forEach(function (item) { showPending(item, item.failed ? strings.not_sent : strings.retry_later); });
  connect();
  tellHost({ type: "baton:ready" });
})();
