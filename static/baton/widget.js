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
  var base = new URL(script.src, window.location.href).origin;
  var queued = (window.Baton && window.Baton.q) || [];
  var listeners = {};
  var frame = null;
  var frameReady = false;
  var toFrame = [];
  var ui = null;
  var isOpen = false;
  var strings = {};

  function post(message) {
    if (frame && frameReady) {
      frame.contentWindow.postMessage(message, base);
    } else {
      toFrame.push(message);
    }
  }

  function emit(name, detail) {
    (listeners[name] || []).forEach(function (fn) {
      try { fn(detail); } catch (e) { console.error(e); }
    });
  }

  function currentPage() {
    return {
      path: window.location.pathname,
      title: document.title,
      url: window.location.href,
      referrer: document.referrer,
    };
  }

  var lastReported = "";
  function reportPage() {
    var page = currentPage();
    var key = page.path + "\n" + page.title;
    if (key === lastReported) return;
    lastReported = key;
    post({ type: "baton:page", page: page });
  }

  // Single-page apps change the URL without loading a page: watch the history API.
  function watchNavigation() {
    ["pushState", "replaceState"].forEach(function (name) {
      var original = history[name];
      history[name] = function () {
        var result = original.apply(this, arguments);
        setTimeout(reportPage, 0);
        return result;
      };
    });
    window.addEventListener("popstate", function () { setTimeout(reportPage, 0); });
    window.addEventListener("hashchange", reportPage);
    // Apps often set the title just after navigating.
    var title = document.querySelector("title");
    if (title && window.MutationObserver) {
      new MutationObserver(reportPage).observe(title, { childList: true, characterData: true, subtree: true });
    }
  }

  var css = [
    ":host{all:initial}",
    ".launcher{position:fixed;right:20px;bottom:20px;z-index:2147483646;width:60px;height:60px;",
    "border-radius:50%;border:0;background:#3346d3;color:#fff;cursor:pointer;",
    "box-shadow:0 6px 20px rgba(0,0,0,.25);display:flex;align-items:center;justify-content:center}",
    ".launcher:focus-visible{outline:3px solid #ffb020;outline-offset:3px}",
    ".badge{position:absolute;top:-4px;right:-4px;min-width:22px;height:22px;padding:0 6px;",
    "border-radius:11px;background:#b3261e;color:#fff;font:600 13px/22px system-ui,sans-serif;text-align:center}",
    ".panel{position:fixed;right:20px;bottom:92px;z-index:2147483647;width:380px;height:600px;",
    "max-height:calc(100vh - 112px);border-radius:16px;overflow:hidden;background:#fff;",
    "box-shadow:0 12px 40px rgba(0,0,0,.3)}",
    ".panel[hidden],.badge[hidden]{display:none}",
    "iframe{border:0;width:100%;height:100%;display:block}",
    "@media (max-width:480px){.panel{right:0;bottom:0;width:100vw;height:100%;max-height:none;border-radius:0}",
    ".launcher.open{display:none}}",
  ].join("");

  function build() {
    var host = document.createElement("div");
    host.setAttribute("data-baton", "");
    var root = host.attachShadow({ mode: "open" });
    var style = document.createElement("style");
    style.textContent = css;
    var launcher = document.createElement("button");
    launcher.type = "button";
    launcher.className = "launcher";
    launcher.setAttribute("aria-label", strings.open);
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-haspopup", "dialog");
    launcher.innerHTML = '<svg aria-hidden="true" width="28" height="28" viewBox="0 0 24 24" fill="none">' +
      '<path d="M4 5h16v11H8l-4 4V5z" stroke="currentColor" stroke-width="2" stroke-linejoin="round"/></svg>';
    var badge = document.createElement("span");
    badge.className = "badge";
    badge.hidden = true;
    launcher.appendChild(badge);
    var panel = document.createElement("div");
    panel.className = "panel";
    panel.hidden = true;
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", strings.title);
    frame = document.createElement("iframe");
    frame.title = strings.frame_title;
    frame.setAttribute("allow", "clipboard-write");
    panel.appendChild(frame);
    root.appendChild(style);
    root.appendChild(panel);
    root.appendChild(launcher);
    launcher.addEventListener("click", function () { isOpen ? close() : open(); });
    launcher.addEventListener("pointerenter", load);
    launcher.addEventListener("focus", load);
    document.body.appendChild(host);
    return { launcher: launcher, badge: badge, panel: panel };
  }

  function load() {
    if (!frame.src) frame.src = base + "/widget/" + encodeURIComponent(site) + "/";
  }

  function open() {
    if (!ui) return;
    load();
    isOpen = true;
    ui.panel.hidden = false;
    ui.launcher.classList.add("open");
    ui.launcher.setAttribute("aria-expanded", "true");
    ui.launcher.setAttribute("aria-label", strings.close);
    setUnread(0);
    post({ type: "baton:open" });
    frame.focus();
    emit("open");
  }

  function close() {
    if (!ui) return;
    isOpen = false;
    ui.panel.hidden = true;
    ui.launcher.classList.remove("open");
    ui.launcher.setAttribute("aria-expanded", "false");
    ui.launcher.setAttribute("aria-label", strings.open);
    post({ type: "baton:close" });
    ui.launcher.focus();
    emit("close");
  }

  function setUnread(count) {
    ui.badge.hidden = !count;
    ui.badge.textContent = count > 9 ? "9+" : String(count);
    var label = isOpen ? strings.close : strings.open;
    if (count) {
      label += " (" + (count === 1 ? strings.unread_one : strings.unread_many.replace("%(count)s", count)) + ")";
    }
    ui.launcher.setAttribute("aria-label", label);
  }

  window.addEventListener("message", function (event) {
    if (!frame || event.origin !== base || event.source !== frame.contentWindow) return;
    var data = event.data || {};
    switch (data.type) {
      case "baton:ready":
        frameReady = true;
        reportPage();
        toFrame.splice(0).forEach(post);
        if (isOpen) post({ type: "baton:open" });
        emit("ready");
        break;
      case "baton:unread":
        if (!isOpen || data.count === 0) setUnread(data.count);
        break;
      case "baton:close-request":
        close();
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
    open: function () { open(); },
    close: function () { close(); },
    on: function (name, fn) { (listeners[name] = listeners[name] || []).push(fn); },
    off: function (name, fn) {
      listeners[name] = (listeners[name] || []).filter(function (f) { return f !== fn; });
    },
  };
  window.Baton = api;

  function start(config) {
    strings = config.strings;
    ui = build();
    watchNavigation();
    if (window.requestIdleCallback) requestIdleCallback(load, { timeout: 3000 });
    else setTimeout(load, 1000);
    queued.forEach(function (call) {
      try { api[call[0]].apply(api, call[1]); } catch (e) { console.error(e); }
    });
  }

  fetch(base + "/widget/" + encodeURIComponent(site) + "/config.json", { credentials: "omit" })
    .then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) throw new Error(body.error || response.statusText);
        return body;
      });
    })
    .then(function (config) {
      if (document.body) start(config);
      else document.addEventListener("DOMContentLoaded", function () { start(config); });
    })
    .catch(function (error) { console.warn("Baton: the chat could not start. " + error.message); });
})();
