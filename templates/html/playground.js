// regate playground: send the sources and the request to the local server on each
// edit, show what it answers.  The decision shown is always the one for the text on
// screen: an edit clears it at once ("deciding…"), and an answer to an older edit is
// dropped, so a stale "approve" is never shown.
"use strict";
(function () {
  const sources = Array.from(document.querySelectorAll("textarea.source"));
  const request = document.getElementById("request-text");
  const sample = document.getElementById("sample");
  const region = document.getElementById("decision-region");
  const body = document.getElementById("decision-body");
  const status = document.getElementById("status");
  const diagnostics = document.getElementById("diagnostics");
  const explanation = document.getElementById("explanation");
  const regoDiff = document.getElementById("rego-diff");
  const rego = document.getElementById("rego");
  let sent = 0;
  let timer = null;

  function pending() {
    region.setAttribute("aria-busy", "true");
    status.textContent = "Deciding…";
    body.innerHTML = "";
    explanation.textContent = "";
  }

  function show(answer) {
    body.innerHTML = answer.html;  // rendered by regate's templates, escaped there
    diagnostics.textContent = answer.diagnostics_text || "none";
    explanation.textContent = answer.explanation;
    regoDiff.textContent = answer.rego_diff || "no change";
    rego.textContent = Object.keys(answer.rego)
      .filter((name) => name.startsWith("regate/policies/"))
      .map((name) => "# " + name + "\n" + answer.rego[name]).join("\n");
    status.textContent = answer.decision ? "Decided by OPA." : "No decision.";
    region.setAttribute("aria-busy", "false");
  }

  function fail(reason) {
    body.innerHTML = "";
    const banner = document.createElement("header");
    banner.className = "banner deny";
    const heading = document.createElement("h3");
    heading.className = "headline";
    heading.textContent = "✗ No decision";
    const detail = document.createElement("p");
    detail.textContent = reason;
    banner.append(heading, detail);
    body.append(banner);
    status.textContent = "No decision.";
    region.setAttribute("aria-busy", "false");
  }

  async function evaluate() {
    const mine = ++sent;
    const payload = { sources: {}, request: request.value };
    for (const area of sources) payload.sources[area.dataset.name] = area.value;
    try {
      const response = await fetch("/api/evaluate", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(payload),
      });
      const answer = await response.json();
      if (mine !== sent) return;
      if (!response.ok) fail(answer.error || response.statusText);
      else show(answer);
    } catch (err) {
      if (mine === sent) fail("the playground server did not answer: " + err);
    }
  }

  function edited() {
    sent++;  // any answer still on its way is for older text
    pending();
    clearTimeout(timer);
    timer = setTimeout(evaluate, 300);
  }

  for (const area of [...sources, request]) area.addEventListener("input", edited);
  sample.addEventListener("change", () => {
    request.value = sample.selectedOptions[0].dataset.text;
    edited();
  });
})();
