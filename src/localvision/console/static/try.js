// The console's Try page: send the chosen image to POST /console/try and draw what came back.
// Plain JavaScript, no build step and nothing fetched from elsewhere. The image is sent as it
// is; only the preview drawn here is downscaled (large photos stay quick to show). Boxes are
// SVG over the preview, in the original image's pixel coordinates (its viewBox), so they line
// up whatever the preview's size.
"use strict";

(() => {
  const form = document.getElementById("try-form");
  if (!form) {
    return;
  }
  const $ = (id) => document.getElementById(id);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const fileInput = $("image");
  const drop = $("drop");
  const statusLine = $("status");
  const errorBox = $("error");
  const canvas = $("preview");
  const overlay = $("overlay");
  const SVG = "http://www.w3.org/2000/svg";
  const PREVIEW_MAX = 1600; // longest side of the preview, in canvas pixels
  let preview = Promise.resolve(null); // resolves to the previewed image's size, or null
  let last = null; // the last answer, to switch protocols without asking again

  const percent = (score) => `${Math.round(score * 100)}%`;

  function showPreview(file) {
    document.body.dataset.preview = "drawing";
    preview = (async () => {
      try {
        const bitmap = await createImageBitmap(file);
        const size = { width: bitmap.width, height: bitmap.height };
        const scale = Math.min(1, PREVIEW_MAX / Math.max(size.width, size.height));
        canvas.width = Math.max(1, Math.round(size.width * scale));
        canvas.height = Math.max(1, Math.round(size.height * scale));
        canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
        bitmap.close();
        return size;
      } catch (error) {
        return null; // not an image this browser can show; the server will say what it is
      } finally {
        document.body.dataset.preview = "ready";
      }
    })();
  }

  function blankPreview(width, height) {
    const scale = Math.min(1, 800 / Math.max(width, height));
    canvas.width = Math.max(1, Math.round(width * scale));
    canvas.height = Math.max(1, Math.round(height * scale));
    const context = canvas.getContext("2d");
    context.fillStyle = "#dfe2e8";
    context.fillRect(0, 0, canvas.width, canvas.height);
  }

  function setError(error) {
    if (!error) {
      errorBox.hidden = true;
      errorBox.textContent = "";
      return;
    }
    errorBox.textContent = error.message + (error.hint ? ` ${error.hint}` : "");
    errorBox.hidden = false;
  }

  function element(tag, attributes, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) {
      node.setAttribute(name, String(value));
    }
    if (text) {
      const title = document.createElementNS(SVG, "title");
      title.textContent = text;
      node.appendChild(title);
    }
    return node;
  }

  function box(coordinates, kind, text) {
    const [left, top, right, bottom] = coordinates;
    const shape = { x: left, y: top, width: Math.max(0, right - left), height: Math.max(0, bottom - top) };
    overlay.appendChild(element("rect", { ...shape, class: "halo" }));
    overlay.appendChild(element("rect", { ...shape, class: `box ${kind}`, "data-kind": kind }, text));
  }

  function polygon(points, kind, text) {
    const path = points.map(([x, y]) => `${x},${y}`).join(" ");
    overlay.appendChild(element("polygon", { points: path, class: "halo" }));
    overlay.appendChild(element("polygon", { points: path, class: `box ${kind}`, "data-kind": kind }, text));
  }

  function listItems(list, items, render) {
    list.replaceChildren(...items.map((item, index) => {
      const li = document.createElement("li");
      render(li, item, index);
      return li;
    }));
  }

  function scored(li, name, score, kind) {
    const label = document.createElement("span");
    label.className = kind ? `name key-${kind}` : "name";
    label.textContent = name;
    const meter = document.createElement("meter");
    meter.min = 0;
    meter.max = 1;
    meter.value = score;
    meter.setAttribute("aria-label", `${name}: ${percent(score)}`);
    const value = document.createElement("span");
    value.className = "score";
    value.textContent = percent(score);
    li.append(label, meter, value);
  }

  function showSection(feature, visible) {
    const section = document.querySelector(`section[data-feature="${feature}"]`);
    if (section) {
      section.hidden = !visible;
    }
  }

  async function draw(answer) {
    const r = answer.result;
    const size = await preview;
    overlay.replaceChildren();
    $("result").hidden = false;
    const stage = $("stage");
    if (r.width && r.height) {
      stage.hidden = false;
      if (!size) {
        blankPreview(r.width, r.height);
      }
      overlay.setAttribute("viewBox", `0 0 ${r.width} ${r.height}`);
      (r.crop_hints || []).forEach((hint, i) => box(hint.box, "crop", `crop hint ${i + 1}`));
      (r.lines || []).forEach((line) => polygon(line.box, "text", line.text));
      (r.objects || []).forEach((o) => box(o.box, "object", `${o.label} ${percent(o.score)}`));
      (r.faces || []).forEach((f, i) => box(f.box, "face", `face ${i + 1}: ${percent(f.confidence)}`));
      const counts = [
        [(r.faces || []).length, "face"], [(r.objects || []).length, "object"],
        [(r.lines || []).length, "text line"], [(r.crop_hints || []).length, "crop hint"],
      ].filter(([n]) => n > 0).map(([n, what]) => `${n} ${what}${n === 1 ? "" : "s"}`);
      overlay.setAttribute("aria-label", counts.length ? `Drawn over the image: ${counts.join(", ")}` : "Nothing drawn over the image");
    } else {
      stage.hidden = true;
    }
    showSection("labels", Array.isArray(r.labels));
    listItems($("labels"), r.labels || [], (li, l) => scored(li, l.label, l.score));
    showSection("objects", Array.isArray(r.objects));
    listItems($("objects"), r.objects || [], (li, o) => scored(li, o.label, o.score, "object"));
    showSection("faces", Array.isArray(r.faces));
    listItems($("faces"), r.faces || [], (li, f, i) => scored(li, `face ${i + 1}`, f.confidence, "face"));
    showSection("text", Array.isArray(r.lines));
    listItems($("text"), r.lines || [], (li, line) => { li.textContent = line.text; });
    showSection("colors", Array.isArray(r.colors));
    listItems($("colors"), r.colors || [], (li, c) => {
      const chip = document.createElement("span");
      chip.className = "chip";
      chip.style.backgroundColor = c.hex; // CSSOM, allowed by the page's content security policy
      const text = document.createElement("span");
      text.textContent = `${c.hex} ${c.name || ""} · ${percent(c.pixel_fraction)} of the image`;
      li.append(chip, text);
    });
    showSection("crop_hints", Array.isArray(r.crop_hints));
    listItems($("crops"), r.crop_hints || [], (li, h) => {
      li.textContent = `${h.box.join(", ")} (aspect ${h.aspect_ratio}, confidence ${percent(h.confidence)})`;
    });
    const by = Object.entries(answer.answered_by || {}).map(([f, m]) => `${f}: ${m}`).join("; ");
    $("answered-by").textContent = by ? `Answered by ${by}.` : "";
    showRaw();
    await new Promise((resolve) => requestAnimationFrame(() => resolve()));
  }

  function protocol() {
    const chosen = form.querySelector('input[name="protocol"]:checked');
    return chosen ? chosen.value : "native";
  }

  function showRaw() {
    if (!last) {
      return;
    }
    const name = protocol();
    $("raw-protocol").textContent = { native: "localvision", google: "Google Cloud Vision", aws: "AWS Rekognition" }[name];
    $("raw").textContent = JSON.stringify(last.raw[name], null, 2);
    $("curl").textContent = last.snippets[name].curl;
    $("python").textContent = last.snippets[name].python;
  }

  async function submit(event) {
    event.preventDefault();
    const started = performance.now();
    document.body.dataset.state = "working";
    setError(null);
    statusLine.textContent = "Annotating…";
    const button = $("run");
    button.disabled = true;
    let response = null;
    let answer;
    try {
      response = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { "X-CSRF-Token": csrf, Accept: "application/json" },
        credentials: "same-origin",
      });
      answer = await response.json().catch(() => ({ error: { message: `The server answered ${response.status}.` } }));
    } catch (error) {
      answer = { error: { message: `The server could not be reached (${error.message}).` } };
    } finally {
      button.disabled = false;
    }
    if (!answer.result) {
      if (response && response.status === 401) {
        answer.error = { message: "Your session has ended.", hint: "Reload the page to log in again." };
      }
      statusLine.textContent = "";
      setError(answer.error);
      document.body.dataset.state = "failed";
      return;
    }
    last = answer;
    await draw(answer);
    const elapsed = performance.now() - started;
    window.localvisionTiming = { total_ms: elapsed, server_ms: answer.server_ms };
    setError(answer.error || null);
    statusLine.textContent = answer.error
      ? "The image could not be annotated."
      : `Done in ${Math.round(elapsed)} ms (the server took ${Math.round(answer.server_ms)} ms).`;
    document.body.dataset.state = answer.error ? "failed" : "drawn";
  }

  async function copy(event) {
    const source = $(event.currentTarget.dataset.copy);
    try {
      await navigator.clipboard.writeText(source.textContent);
      statusLine.textContent = "Copied.";
    } catch (error) {
      window.getSelection().selectAllChildren(source); // no clipboard here (plain HTTP): select it
      statusLine.textContent = "Selected: press Ctrl+C (or Cmd+C) to copy.";
    }
  }

  ["dragenter", "dragover"].forEach((type) => drop.addEventListener(type, (event) => {
    event.preventDefault();
    drop.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((type) => drop.addEventListener(type, (event) => {
    event.preventDefault();
    drop.classList.remove("over");
  }));
  drop.addEventListener("drop", (event) => {
    if (event.dataTransfer && event.dataTransfer.files.length) {
      fileInput.files = event.dataTransfer.files;
      fileInput.dispatchEvent(new Event("change"));
    }
  });
  fileInput.addEventListener("change", () => {
    if (fileInput.files && fileInput.files[0]) {
      showPreview(fileInput.files[0]);
    }
  });
  form.addEventListener("submit", submit);
  form.querySelectorAll('input[name="protocol"]').forEach((radio) => radio.addEventListener("change", showRaw));
  document.querySelectorAll("button[data-copy]").forEach((button) => button.addEventListener("click", copy));
  document.body.dataset.state = "idle";
})();
