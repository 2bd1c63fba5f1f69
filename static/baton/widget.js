/* Baton loader (docs/widget-protocol.md). A launcher and an iframe inside a shadow root, so
 * host and chat styles never mix; the only global is window.Baton. The frame loads when
 * the page is idle or on first interaction, keeping this file small. */
(function () {
  "use strict";
  if (window.Baton && window.Baton.loaded) return;

  var script = document.currentScript ||
    document.querySelector('script[src*="/static/baton/widget.js"][data-site]');
  if (!script || !script.dataset.site) {
    console.warn("Baton: add data-site=\"…\" to the widget script tag.");
    return;
  }
  var site = script.dataset.site;
  var base = new URL(script.src, location.href).origin;
  var frameUrl = base + "/widget/" + encodeURIComponent(site) + "/";
  var queued = (window.Baton && window.Baton.q) || [];
  var listeners = {}, toFrame = [], strings = {}, frame, frameReady, launcher, badge, panel, isOpen;

  function post(message) {
    if (frameReady) frame.contentWindow.postMessage(message, base);
    else toFrame.push(message);
  }

  function emit(name, detail) {
    (listeners[name] || []).forEach(function (fn) {
      try { fn(detail); } catch (e) { console.error(e); }
    });
  }

  function reportPage() {
    if (frameReady) {
      post({
        type: "baton:page",
        page: { path: location.pathname, title: document.title, url: location.href, referrer: document.referrer },
      });
    }
  }

  // Single-page apps change the URL, then the title, without loading a page. The frame
  // tells a new page from a title change (frame.js); it gets the current page once ready.
  function later() { setTimeout(reportPage, 0); }
  function watchNavigation() {
    ["pushState", "replaceState"].forEach(function (name) {
      var original = history[name];
      history[name] = function () {
        var result = original.apply(this, arguments);
        later();
        return result;
      };
    });
    addEventListener("popstate", later);
    addEventListener("hashchange", later);
    var title = document.querySelector("title");
    if (title) {
      new MutationObserver(reportPage).observe(title, { childList: true, characterData: true, subtree: true });
    }
  }

  var css = [
    ".launcher{position:fixed;right:20px;bottom:20px;width:60px;height:60px;",
    "border-radius:50%;border:0;background:#3346d3;color:#fff;cursor:pointer;",
    "box-shadow:0 6px 20px rgba(0,0,0,.25);display:flex;align-items:center;justify-content:center}",
    ".launcher:focus-visible{outline:3px solid #ffb020;outline-offset:3px}",
    ".badge{position:absolute;top:-4px;right:-4px;min-width:22px;height:22px;padding:0 6px;",
    "border-radius:11px;background:#b3261e;color:#fff;font:600 13px/22px system-ui,sans-serif;text-align:center}",
    ".panel{position:fixed;right:20px;bottom:92px;width:380px;height:600px;",
    "max-height:calc(100vh - 112px);border-radius:16px;overflow:hidden;background:#fff;",
    "box-shadow:0 12px 40px rgba(0,0,0,.3)}",
    "iframe{border:0;width:100%;height:100%;display:block}",
    "@media (max-width:480px){.panel{right:0;bottom:0;width:100vw;height:100%;max-height:none;border-radius:0}",
    ".launcher.open{display:none}}",
  ].join("");

  function build() {
    var host = document.createElement("div");
    host.setAttribute("data-baton", "");
    // No host-page rule may move, cover or make room for the widget.
    host.style.cssText = "all:initial;position:fixed;top:0;left:0;width:0;height:0;z-index:2147483647;"
      .replace(/;/g, "!important;");
    var root = host.attachShadow({ mode: "open" });
    root.innerHTML = "<style>" + css + "</style>" +
      '<div class="panel" role="dialog" hidden><iframe allow="clipboard-write"></iframe></div>' +
      '<button type="button" class="launcher" aria-expanded="false" aria-haspopup="dialog">' +
      '<svg aria-hidden="true" width="28" height="28" viewBox="0 0 24 24" fill="none">' +
      '<path d="M4 5h16v11H8l-4 4V5z" stroke="currentColor" stroke-width="2" stroke-linejoin="round"/></svg>' +
      '<span class="badge" hidden></span></button>';
    launcher = root.lastChild;
    badge = launcher.lastChild;
    panel = launcher.previousSibling;
    frame = panel.firstChild;
    frame.title = strings.frame_title;
    panel.setAttribute("aria-label", strings.title);
    launcher.setAttribute("aria-label", strings.open);
    launcher.addEventListener("click", function () { show(!isOpen); });
    launcher.addEventListener("pointerenter", load);
    launcher.addEventListener("focus", load);
    document.body.appendChild(host);
  }

  function load() {
    if (!frame.src) frame.src = frameUrl;
  }

  // Asked before the UI is there, it is done when it is.
  function show(open) {
    isOpen = open;
    if (!launcher) return;
    if (open) load();
    panel.hidden = !open;
    launcher.classList.toggle("open", open);
    launcher.setAttribute("aria-expanded", open);
    setUnread(0);
    post({ type: open ? "baton:open" : "baton:close" });
    (open ? frame : launcher).focus();
    emit(open ? "open" : "close");
  }

  function setUnread(count) {
    badge.hidden = !count;
    badge.textContent = count > 9 ? "9+" : count;
    var label = isOpen ? strings.close : strings.open;
    if (count) {
      label += " (" + (count === 1 ? strings.unread_one : strings.unread_many.replace("%(count)s", count)) + ")";
    }
    launcher.setAttribute("aria-label", label);
  }

  addEventListener("message", function (event) {
    if (!frame || event.origin !== base || event.source !== frame.contentWindow) return;
    var data = event.data || {};
    switch (data.type) {
      case "baton:ready":
        frameReady = true;
        toFrame.splice(0).forEach(post);
        reportPage();
        if (isOpen) post({ type: "baton:open" });
        emit("ready");
        break;
      case "baton:unread":
        if (!isOpen || data.count === 0) setUnread(data.count);
        break;
      case "baton:close-request":
        show(false);
        break;
      case "baton:event":
        emit(data.name, data.detail);
        break;
    }
  });

  var api = {
    loaded: true,
    identify: function (identity) { post({ type: "baton:identify", identity: identity }); },
    setContext: function (context) {
      if (context && typeof context === "object") post({ type: "baton:context", context: context });
    },
    open: function () { show(true); },
    close: function () { show(false); },
    on: function (name, fn) { (listeners[name] = listeners[name] || []).push(fn); },
    off: function (name, fn) {
      listeners[name] = (listeners[name] || []).filter(function (f) { return f !== fn; });
    },
  };
  window.Baton = api;
  queued.forEach(function (call) {
    try { api[call[0]].apply(api, call[1]); } catch (e) { console.error(e); }
  });

  function start(config) {
    strings = config.strings;
    build();
    watchNavigation();
    if (window.requestIdleCallback) requestIdleCallback(load, { timeout: 3000 });
    else setTimeout(load, 1000);
    if (isOpen) show(true);
  }

  fetch(frameUrl + "config.json", { credentials: "omit" })
    .then(function (response) {
      return response.json().then(function (config) {
        if (!response.ok) throw new Error(config.error || response.statusText);
        if (document.body) start(config);
        else document.addEventListener("DOMContentLoaded", function () { start(config); });
      });
    })
    .catch(function (error) { console.warn("Baton: the chat could not start. " + error.message); });
})();
