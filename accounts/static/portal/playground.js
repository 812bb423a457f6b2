// Playground: calls one of the gateway's doors from the browser with the customer's key — Responses,
// Chat Completions, Anthropic Messages or Gemini, built from the same prompt — renders the stream token
// by token, and shows the raw request, the raw events/chunks and the charged cost.
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("pg-config").textContent);
  const t = cfg.t;
  const $ = (id) => document.getElementById(id);
  const form = $("pg-form"), keyInput = $("pg-key"), sendBtn = $("pg-send"), stopBtn = $("pg-stop");
  const statusEl = $("pg-status"), textEl = $("pg-text"), toolsOut = $("pg-tools-out");
  const usageEl = $("pg-usage"), requestEl = $("pg-request"), eventsEl = $("pg-events");
  const protocolSelect = $("pg-protocol"), endpointEl = $("pg-endpoint"), maxLabel = $("pg-max-label");
  const KEY = "harnmodel.playground.key";
  const ANTHROPIC_VERSION = "2023-06-01";
  const DEFAULT_MAX_TOKENS = 1024;  // Anthropic requires max_tokens; used when the field is empty
  let controller = null;

  keyInput.value = sessionStorage.getItem(KEY) || "";
  keyInput.addEventListener("change", () => sessionStorage.setItem(KEY, keyInput.value.trim()));

  function setStatus(text, kind) {
    statusEl.textContent = text;
    statusEl.className = kind || "muted";
  }

  function appendText(text) {
    if (text) textEl.append(document.createTextNode(text));
  }

  function showToolCall(name, args) {
    const p = document.createElement("p");
    p.className = "tool-call";
    p.textContent = t.tool_call + ": " + name + "(" + (typeof args === "string" ? args : JSON.stringify(args)) + ")";
    toolsOut.append(p);
  }

  // What the form says, protocol-neutral: each protocol below writes it in its own request shape.
  function readPrompt() {
    const p = { model: $("pg-model").value, input: $("pg-input").value, instructions: $("pg-instructions").value.trim(),
      stream: $("pg-stream").checked, tools: [] };
    for (const [id, name] of [["pg-temperature", "temperature"], ["pg-top-p", "top_p"], ["pg-max", "max"]]) {
      const raw = $(id).value.trim();
      if (raw !== "") p[name] = Number(raw);
    }
    const tools = $("pg-tools").value.trim();
    if (tools) {
      let parsed;
      try { parsed = JSON.parse(tools); } catch (e) { throw new Error(t.bad_tools); }
      if (!Array.isArray(parsed)) throw new Error(t.bad_tools);
      p.tools = parsed;  // Responses-style function tools: {type, name, description, parameters}
    }
    return p;
  }

  const num = (v) => (typeof v === "number" ? v : 0);

  // Each door: its URL and key header, its body from the prompt, its stream events and JSON answer
  // (text, tool calls, usage as {input, cached, output, reasoning}, final status), its error shape.
  const PROTOCOLS = {
    responses: {
      maxName: "max_output_tokens",
      url: () => cfg.api_base + "/responses",
      headers: (key) => ({ "Authorization": "Bearer " + key }),
      body(p) {
        const b = { model: p.model, input: p.input };
        if (p.instructions) b.instructions = p.instructions;
        if ("temperature" in p) b.temperature = p.temperature;
        if ("top_p" in p) b.top_p = p.top_p;
        if ("max" in p) b.max_output_tokens = p.max;
        if (p.tools.length) b.tools = p.tools;
        b.stream = p.stream;
        return b;
      },
      event(type, data, run) {
        if (type === "response.output_text.delta") appendText(data.delta);
        else if (type === "response.output_item.done" && data.item && data.item.type === "function_call") {
          showToolCall(data.item.name, data.item.arguments);
        } else if (type === "response.completed" || type === "response.incomplete" || type === "response.failed") {
          run.usage = this.usage(data.response.usage);
          run.status = data.response.status;
        } else if (type === "error") run.error = (data.code || "error") + ": " + (data.message || "");
      },
      answer(json, run) {
        for (const item of json.output || []) {
          if (item.type === "message") {
            for (const c of item.content || []) if (c.type === "output_text") appendText(c.text);
          } else if (item.type === "function_call") showToolCall(item.name, item.arguments);
        }
        run.usage = this.usage(json.usage);
        run.status = json.status;
      },
      usage: (u) => u && { input: u.input_tokens, cached: (u.input_tokens_details || {}).cached_tokens || 0,
        output: u.output_tokens, reasoning: (u.output_tokens_details || {}).reasoning_tokens || 0 },
      error: (j) => { const e = j.error || {}; return { code: e.code || e.type, message: e.message }; },
    },

    chat: {
      maxName: "max_completion_tokens",
      url: () => cfg.api_base + "/chat/completions",
      headers: (key) => ({ "Authorization": "Bearer " + key }),
      body(p) {
        const messages = [];
        if (p.instructions) messages.push({ role: "system", content: p.instructions });
        messages.push({ role: "user", content: p.input });
        const b = { model: p.model, messages: messages };
        if ("temperature" in p) b.temperature = p.temperature;
        if ("top_p" in p) b.top_p = p.top_p;
        if ("max" in p) b.max_completion_tokens = p.max;
        if (p.tools.length) {
          b.tools = p.tools.map((tool) => ({ type: "function", function: { name: tool.name,
            description: tool.description, parameters: tool.parameters } }));
        }
        b.stream = p.stream;
        if (p.stream) b.stream_options = { include_usage: true };
        return b;
      },
      event(type, data, run) {
        if (data.error) { run.error = this.error(data).code + ": " + this.error(data).message; return; }
        const choice = (data.choices || [])[0];
        if (choice) {
          const delta = choice.delta || {};
          appendText(delta.content);
          for (const call of delta.tool_calls || []) {
            const slot = run.calls[call.index] = run.calls[call.index] || { name: "", args: "" };
            if (call.function && call.function.name) slot.name += call.function.name;
            if (call.function && call.function.arguments) slot.args += call.function.arguments;
          }
          if (choice.finish_reason) run.status = choice.finish_reason;
        }
        if (data.usage) run.usage = this.usage(data.usage);
      },
      finish(run) { for (const call of run.calls) if (call) showToolCall(call.name, call.args); },
      answer(json, run) {
        const choice = (json.choices || [])[0] || {};
        const message = choice.message || {};
        appendText(message.content);
        for (const call of message.tool_calls || []) showToolCall(call.function.name, call.function.arguments);
        run.usage = this.usage(json.usage);
        run.status = choice.finish_reason;
      },
      usage: (u) => u && { input: u.prompt_tokens, cached: (u.prompt_tokens_details || {}).cached_tokens || 0,
        output: u.completion_tokens, reasoning: (u.completion_tokens_details || {}).reasoning_tokens || 0 },
      error: (j) => { const e = j.error || {}; return { code: e.code || e.type, message: e.message }; },
    },

    messages: {
      maxName: "max_tokens",
      url: () => cfg.origin + "/v1/messages",
      headers: (key) => ({ "x-api-key": key, "anthropic-version": ANTHROPIC_VERSION }),
      body(p) {
        const b = { model: p.model, max_tokens: "max" in p ? p.max : DEFAULT_MAX_TOKENS };
        if (p.instructions) b.system = p.instructions;
        b.messages = [{ role: "user", content: p.input }];
        if ("temperature" in p) b.temperature = p.temperature;
        if ("top_p" in p) b.top_p = p.top_p;
        if (p.tools.length) {
          b.tools = p.tools.map((tool) => ({ name: tool.name, description: tool.description,
            input_schema: tool.parameters || { type: "object", properties: {} } }));
        }
        b.stream = p.stream;
        return b;
      },
      event(type, data, run) {
        if (type === "message_start") {
          run.raw = (data.message || {}).usage || {};
          run.usage = this.usage(run.raw);
        } else if (type === "content_block_start" && data.content_block && data.content_block.type === "tool_use") {
          run.calls[data.index] = { name: data.content_block.name, args: "" };
        } else if (type === "content_block_delta") {
          const delta = data.delta || {};
          if (delta.type === "text_delta") appendText(delta.text);
          else if (delta.type === "input_json_delta" && run.calls[data.index]) run.calls[data.index].args += delta.partial_json;
        } else if (type === "message_delta") {
          // message_delta's counts are cumulative and may complete message_start's (input is known at the end).
          if (data.usage) { run.raw = Object.assign({}, run.raw, data.usage); run.usage = this.usage(run.raw); }
          if (data.delta && data.delta.stop_reason) run.status = data.delta.stop_reason;
        } else if (type === "error") {
          const e = this.error(data);
          run.error = e.code + ": " + e.message;
        }
      },
      finish(run) { for (const call of run.calls) if (call) showToolCall(call.name, call.args); },
      answer(json, run) {
        for (const block of json.content || []) {
          if (block.type === "text") appendText(block.text);
          else if (block.type === "tool_use") showToolCall(block.name, block.input);
        }
        run.usage = this.usage(json.usage);
        run.status = json.stop_reason;
      },
      usage(u) {
        if (!u) return null;
        const cached = num(u.cache_read_input_tokens);
        return { input: num(u.input_tokens) + cached + num(u.cache_creation_input_tokens), cached: cached,
          output: num(u.output_tokens), reasoning: 0 };
      },
      error: (j) => { const e = j.error || {}; return { code: e.type, message: e.message }; },
    },

    gemini: {
      maxName: "maxOutputTokens",
      url: (p) => cfg.origin + "/v1beta/models/" + encodeURIComponent(p.model) +
        (p.stream ? ":streamGenerateContent?alt=sse" : ":generateContent"),
      headers: (key) => ({ "x-goog-api-key": key }),
      body(p) {
        const b = { contents: [{ role: "user", parts: [{ text: p.input }] }] };
        if (p.instructions) b.systemInstruction = { parts: [{ text: p.instructions }] };
        const config = {};
        if ("temperature" in p) config.temperature = p.temperature;
        if ("top_p" in p) config.topP = p.top_p;
        if ("max" in p) config.maxOutputTokens = p.max;
        if (Object.keys(config).length) b.generationConfig = config;
        if (p.tools.length) {
          b.tools = [{ functionDeclarations: p.tools.map((tool) => {
            const d = { name: tool.name, description: tool.description };
            if (tool.parameters) d.parametersJsonSchema = tool.parameters;
            return d;
          }) }];
        }
        return b;
      },
      event(type, data, run) { this.answer(data, run); },
      answer(json, run) {
        if (json.error) { const e = this.error(json); run.error = e.code + ": " + e.message; return; }
        const candidate = (json.candidates || [])[0] || {};
        for (const part of (candidate.content || {}).parts || []) {
          if (part.functionCall) showToolCall(part.functionCall.name, part.functionCall.args || {});
          else if (typeof part.text === "string" && !part.thought) appendText(part.text);
        }
        if (candidate.finishReason) run.status = candidate.finishReason;
        if (json.usageMetadata) run.usage = this.usage(json.usageMetadata);
      },
      usage: (u) => u && { input: num(u.promptTokenCount), cached: num(u.cachedContentTokenCount),
        output: num(u.candidatesTokenCount) + num(u.thoughtsTokenCount), reasoning: num(u.thoughtsTokenCount) },
      error: (j) => { const e = (Array.isArray(j) ? j[0] : j).error || {}; return { code: e.status, message: e.message }; },
    },
  };

  function protocol() {
    return PROTOCOLS[protocolSelect.value] || PROTOCOLS.responses;
  }

  function showProtocol() {
    const proto = protocol();
    endpointEl.textContent = proto.url({ model: $("pg-model").value, stream: $("pg-stream").checked });
    maxLabel.textContent = proto.maxName;
  }

  const wanted = new URLSearchParams(window.location.search).get("protocol");
  if (wanted && PROTOCOLS[wanted]) protocolSelect.value = wanted;
  for (const el of [protocolSelect, $("pg-model"), $("pg-stream")]) el.addEventListener("change", showProtocol);
  showProtocol();

  function showUsage(usage) {
    usageEl.textContent = "";
    if (!usage) { usageEl.textContent = t.no_usage; return; }
    const rows = [[t.input, usage.input], [t.cached, usage.cached], [t.output, usage.output],
      [t.reasoning, usage.reasoning]];
    for (const [label, value] of rows) addFact(label, String(value || 0));
  }

  function addFact(label, value, testid) {
    const dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = label;
    dd.textContent = value;
    if (testid) dd.dataset.testid = testid;
    usageEl.append(dt, dd);
  }

  // A refused request (4xx/5xx): its message at once, in any door's shape; a 402 links to Billing.
  function showRefusal(status, err, text) {
    setStatus("HTTP " + status + " " + (err.code || "") + ": " + (err.message || text), "error");
    if (status === 402) {
      const link = document.createElement("a");
      link.href = cfg.billing_url;
      link.textContent = t.top_up;
      link.dataset.testid = "billing-link";
      statusEl.append(" ", link);
    }
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

  // Server-sent events of any door: `event:` (Responses, Anthropic) or only `data:` (Chat, Gemini).
  async function readStream(resp, proto, run) {
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
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
        if (data === "[DONE]") continue;
        let parsed;
        try { parsed = JSON.parse(data); } catch (e) { continue; }
        proto.event(type || parsed.type || "", parsed, run);
      }
    }
  }

  function rawRequest(url, headers, body, key) {
    const masked = key.slice(0, 7) + "…";
    const lines = ["POST " + url];
    for (const [name, value] of Object.entries(headers)) lines.push(name + ": " + value.split(key).join(masked));
    return lines.join("\n") + "\n\n" + JSON.stringify(body, null, 2);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = keyInput.value.trim();
    if (!key) { setStatus(t.no_key, "error"); keyInput.focus(); return; }
    sessionStorage.setItem(KEY, key);
    const proto = protocol();
    let prompt, body;
    try { prompt = readPrompt(); body = proto.body(prompt); } catch (e) { setStatus(e.message, "error"); return; }
    textEl.textContent = ""; toolsOut.textContent = ""; usageEl.textContent = ""; eventsEl.textContent = "";
    const url = proto.url(prompt);
    const headers = Object.assign(proto.headers(key), { "Content-Type": "application/json" });
    requestEl.textContent = rawRequest(url, headers, body, key);
    controller = new AbortController();
    sendBtn.disabled = true; stopBtn.disabled = false;
    setStatus(t.sending);
    textEl.classList.add("typing");
    let requestId = null;
    const run = { usage: null, status: "", error: "", calls: [] };
    try {
      const resp = await fetch(url, {
        method: "POST", credentials: "omit", signal: controller.signal, headers: headers, body: JSON.stringify(body),
      });
      requestId = resp.headers.get("x-request-id");
      const isStream = (resp.headers.get("content-type") || "").startsWith("text/event-stream");
      if (!resp.ok) {
        const text = await resp.text();
        eventsEl.textContent = text;
        let err = {};
        try { err = proto.error(JSON.parse(text)); } catch (e) { /* not JSON */ }
        showRefusal(resp.status, err, text);
        requestId = null;  // refused before any upstream call: nothing was charged, nothing to poll
      } else {
        if (isStream) {
          setStatus(t.streaming);
          await readStream(resp, proto, run);
        } else {
          const json = await resp.json();
          eventsEl.textContent = JSON.stringify(json, null, 2);
          proto.answer(json, run);
        }
        if (proto.finish) proto.finish(run);
        showUsage(run.usage);
        if (run.error) setStatus(run.error, "error");
        else setStatus(t.done + (run.status ? " · " + run.status : ""), "ok");
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
