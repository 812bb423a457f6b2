// The live request log: one websocket, rows prepended as requests settle, filters sent over the same socket.
(function () {
  "use strict";
  var root = document.getElementById("live-log");
  var form = document.getElementById("live-filters");
  var rows = document.getElementById("live-rows");
  var empty = document.getElementById("live-empty");
  var state = document.getElementById("live-state");
  var problem = document.getElementById("live-error");
  var maxRows = parseInt(root.dataset.maxRows, 10) || 200;
  var REFUSED = {4401: "signed out: log in again", 4403: "not allowed to watch requests"};
  var socket = null;
  var retryMs = 1000;
  var timer = null;

  function setState(name, text) {
    state.dataset.state = name;
    state.textContent = text;
  }

  function filters() {
    return {
      type: "filters",
      customer: form.elements.customer.value.trim(),
      model: form.elements.model.value.trim(),
      channel: form.elements.channel.value.trim(),
      status: form.elements.status.value
    };
  }

  function sendFilters() {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(filters()));
    }
  }

  function cell(tr, text, className, title) {
    var td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    if (title) td.title = title;
    tr.appendChild(td);
  }

  function row(e) {
    var tr = document.createElement("tr");
    tr.dataset.requestId = e.request_id;
    if (e.status >= 400) tr.className = "live-error";
    cell(tr, new Date(e.time * 1000).toLocaleTimeString());
    cell(tr, e.request_id, "live-request");
    cell(tr, (e.account_name || e.account_email || "") + " #" + e.account_id, "live-customer", e.account_email);
    cell(tr, e.key_prefix + "…");
    cell(tr, e.model, "live-model");
    cell(tr, e.channel_id === null ? "–" : (e.channel_name || "") + " #" + e.channel_id + (e.credential ? " · " + e.credential : ""), "live-channel", e.credential || "");
    cell(tr, e.status + (e.error_code ? " " + e.error_code : ""), "live-status");
    cell(tr, e.latency_ms + " ms");
    cell(tr, e.input_tokens + " / " + e.output_tokens + (e.usage_estimated ? " (est.)" : ""));
    cell(tr, e.cost);
    return tr;
  }

  function add(events) {
    events.forEach(function (e) { rows.insertBefore(row(e), rows.firstChild); });
    while (rows.children.length > maxRows) rows.removeChild(rows.lastChild);
    empty.hidden = rows.children.length > 0;
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + root.dataset.socketPath);
    socket.onopen = function () {
      retryMs = 1000;
      setState("live", "live");
      if (Object.values(filters()).some(function (v) { return v && v !== "filters"; })) sendFilters();
    };
    socket.onmessage = function (message) {
      var data = JSON.parse(message.data);
      if (data.type === "requests") {
        add(data.events);
      } else if (data.type === "filters") {
        problem.textContent = "";
        rows.textContent = "";
        add(data.events);
        root.dataset.filters = JSON.stringify(data.filters);
      } else if (data.type === "error") {
        problem.textContent = data.message;
      }
    };
    socket.onclose = function (event) {
      if (REFUSED[event.code]) {
        setState("refused", REFUSED[event.code]);
        return;
      }
      setState("connecting", "reconnecting…");
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 30000);
    };
  }

  form.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(sendFilters, 250);
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    sendFilters();
  });
  connect();
})();
