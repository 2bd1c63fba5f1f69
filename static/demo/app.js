/* A small single-page app: navigation changes the URL with the history API, as real
 * apps do, so Baton's page tracking can be seen working. */
(function () {
  "use strict";
  var pages = {
    "/": ["Home", "<h1>Ship faster with Parcelbird</h1><p>Labels for every carrier, tracking your buyers love, returns that run themselves.</p><p>Questions? The chat in the corner answers in seconds and hands you to a person when it should.</p>"],
    "/pricing": ["Pricing", "<h1>Pricing</h1><ul><li><b>Starter</b>: free, 50 labels a month</li><li><b>Growth</b>: $39 a month</li><li><b>Scale</b>: $149 a month</li></ul>"],
    "/shipments": ["Shipments", "<h1>Shipments</h1><table><tr><th>Order</th><th>Carrier</th><th>Status</th></tr><tr><td>#1042</td><td>DHL</td><td>In transit</td></tr><tr><td>#1041</td><td>UPS</td><td>Delivered</td></tr></table><p><a href='/shipments/new' data-link>New shipment</a></p>"],
    "/shipments/new": ["New shipment", "<h1>New shipment</h1><p>Pick an order, a carrier and a service, then buy the label.</p>"],
    "/returns": ["Returns", "<h1>Returns</h1><p>Let buyers print their own prepaid return labels.</p>"],
    "/settings/billing": ["Billing", "<h1>Billing</h1><p>Plan: Growth. Next invoice on the 1st.</p>"],
    "/developers": ["Developers", "<h1>Developers</h1><p>API keys and webhooks.</p>"],
  };

  function render() {
    var path = window.location.pathname;
    var page = pages[path] || ["Not found", "<h1>Not found</h1>"];
    document.title = page[0] + " · Parcelbird";
    var view = document.getElementById("view");
    view.innerHTML = page[1];
    if (path === "/shipments") {
      Baton.setContext({ open_shipments: 2, plan: "Growth" });
    }
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-link]");
    if (!link || event.metaKey || event.ctrlKey) return;
    event.preventDefault();
    history.pushState({}, "", link.getAttribute("href"));
    render();
    document.getElementById("view").focus();
  });
  window.addEventListener("popstate", render);

  var who = document.getElementById("who");
  who.value = sessionStorage.getItem("demo-user") || "";
  function identify() {
    if (!who.value) return;
    fetch("/identity/" + who.value).then(function (r) { return r.json(); }).then(function (body) {
      Baton.identify(body.token);
    });
  }
  who.addEventListener("change", function () {
    sessionStorage.setItem("demo-user", who.value);
    identify();
  });
  render();
  identify();
})();
