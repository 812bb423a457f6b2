// Playground: calls POST /v1/responses from the browser with the customer's key, renders the
// stream token by token, and shows the raw request, the raw events and the charged cost.
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("pg-config").textContent);
  const t = cfg.t;
  const $ = (id) => document.getElementById(id);
  const form = $("pg-form"), keyInput = $("pg-key"), sendBtn = $("pg-send"), stopBtn = $("pg-stop");
  const statusEl = $("pg-status"), textEl = $("pg-text"), toolsOut = $("pg-tools-out");
  const usageEl = $("pg-usage"), requestEl = $("pg-request"), eventsEl = $("pg-events");
  const KEY = "harnmodel.playground.key";
  let controller = null;

  keyInput.value = sessionStorage.getItem(KEY) || "";
  keyInput.addEventListener("change", () => sessionStorage.setItem(KEY, keyInput.value.trim()));

  function setStatus(text, kind) {
    statusEl.textContent = text;
    statusEl.className = kind || "muted";
  }

  function buildBody() {
    const body = { model: $("pg-model").value, input: $("pg-input").value };
    const instructions = $("pg-instructions").value.trim();
    if (instructions) body.instructions = instructions;
    const numbers = [["pg-temperature", "temperature"], ["pg-top-p", "top_p"], ["pg-max", "max_output_tokens"]];
    for (const [id, name] of numbers) {
      const raw = $(id).value.trim();
      if (raw !== "") body[name] = Number(raw);
    }
    const tools = $("pg-tools").value.trim();
    if (tools) {
      let parsed;
      try { parsed = JSON.parse(tools); } catch (e) { throw new Error(t.bad_tools); }
      if (!Array.isArray(parsed)) throw new Error(t.bad_tools);
      body.tools = parsed;
    }
    body.stream = $("pg-stream").checked;
    return body;
  }

  function showUsage(usage) {
    usageEl.textContent = "";
    if (!usage) { usageEl.textContent = t.no_usage; return; }
    const rows = [
      [t.input, usage.input_tokens],
      [t.cached, (usage.input_tokens_details || {}).cached_tokens || 0],
      [t.output, usage.output_tokens],
      [t.reasoning, (usage.output_tokens_details || {}).reasoning_tokens || 0],
    ];
    for (const [label, value] of rows) addFact(label, String(value));
  }

  function addFact(label, value, testid) {
    const dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = label;
    dd.textContent = value;
    if (testid) dd.dataset.testid = testid;
    usageEl.append(dt, dd);
  }

  async function showCost(requestId) {
    if (!requestId) return;
    addFact(t.request_id, requestId);
    const url = cfg.usage_url.replace("REQUEST_ID", encodeURIComponent(requestId));
    addFact(t.cost, t.settling, "cost");
    const cell = usageEl.querySelector('[data-testid="cost"]');
    // The usage record is written just after the last byte: poll briefly for it.
    for (let i = 0; i < 40; i++) {
      const resp = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (resp.ok) {
        const rec = await resp.json();
        cell.textContent = rec.cost_display + (rec.usage_estimated ? " (" + t.estimated + ")" : "");
        return;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    cell.textContent = "—";
  }

  function handleEvent(type, data) {
    if (type === "response.output_text.delta") {
      textEl.append(document.createTextNode(data.delta));
    } else if (type === "response.output_item.done" && data.item && data.item.type === "function_call") {
      const p = document.createElement("p");
      p.className = "tool-call";
      p.textContent = t.tool_call + ": " + data.item.name + "(" + data.item.arguments + ")";
      toolsOut.append(p);
    } else if (type === "response.completed" || type === "response.incomplete" || type === "response.failed") {
      return data.response;
    } else if (type === "error") {
      setStatus((data.code || "error") + ": " + (data.message || ""), "error");
    }
    return null;
  }

  async function readStream(resp) {
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "", final = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.search(/\r?\n\r?\n/)) !== -1) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, "");
        if (!block.trim()) continue;
        eventsEl.textContent += block + "\n\n";
        let type = "", data = "";
        for (const line of block.split(/\r?\n/)) {
          if (line.startsWith("event:")) type = line.slice(6).trim();
          else if (line.startsWith("data:")) data += line.slice(5).trim();
        }
        let parsed = {};
        try { parsed = JSON.parse(data); } catch (e) { continue; }
        final = handleEvent(type || parsed.type, parsed) || final;
      }
    }
    return final;
  }

  function outputText(response) {
    const parts = [];
    for (const item of response.output || []) {
      if (item.type === "message") {
        for (const c of item.content || []) if (c.type === "output_text") parts.push(c.text);
      } else if (item.type === "function_call") {
        handleEvent("response.output_item.done", { item: item });
      }
    }
    return parts.join("");
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = keyInput.value.trim();
    if (!key) { setStatus(t.no_key, "error"); keyInput.focus(); return; }
    sessionStorage.setItem(KEY, key);
    let body;
    try { body = buildBody(); } catch (e) { setStatus(e.message, "error"); return; }
    textEl.textContent = ""; toolsOut.textContent = ""; usageEl.textContent = ""; eventsEl.textContent = "";
    const masked = key.slice(0, 7) + "…";
    requestEl.textContent = "POST " + cfg.endpoint + "\nAuthorization: Bearer " + masked +
      "\nContent-Type: application/json\n\n" + JSON.stringify(body, null, 2);
    controller = new AbortController();
    sendBtn.disabled = true; stopBtn.disabled = false;
    setStatus(t.sending);
    textEl.classList.add("typing");
    let requestId = null;
    try {
      const resp = await fetch(cfg.endpoint, {
        method: "POST", credentials: "omit", signal: controller.signal,
        headers: { "Authorization": "Bearer " + key, "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      requestId = resp.headers.get("x-request-id");
      const isStream = (resp.headers.get("content-type") || "").startsWith("text/event-stream");
      if (!resp.ok) {
        const text = await resp.text();
        eventsEl.textContent = text;
        let err = {};
        try { err = JSON.parse(text).error || {}; } catch (e) { /* not JSON */ }
        setStatus("HTTP " + resp.status + " " + (err.code || "") + ": " + (err.message || text), "error");
      } else if (isStream) {
        setStatus(t.streaming);
        const final = await readStream(resp);
        showUsage(final && final.usage);
        setStatus(t.done + (final ? " · " + final.status : ""), "ok");
      } else {
        const json = await resp.json();
        eventsEl.textContent = JSON.stringify(json, null, 2);
        textEl.textContent = outputText(json);
        showUsage(json.usage);
        setStatus(t.done + " · " + json.status, "ok");
      }
    } catch (e) {
      setStatus(e.name === "AbortError" ? t.stopped : t.network + ": " + e.message, "error");
    } finally {
      textEl.classList.remove("typing");
      sendBtn.disabled = false; stopBtn.disabled = true; controller = null;
    }
    await showCost(requestId);
  });

  stopBtn.addEventListener("click", () => { if (controller) controller.abort(); });
})();
