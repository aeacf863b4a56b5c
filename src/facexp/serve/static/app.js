// facexp web page: send a photo to /v1/predict, draw every face's box and label, show probabilities.
"use strict";
const $ = (id) => document.getElementById(id);
const COLOURS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324"];
let lastBlob = null;

function headers() {
  const key = $("api-key").value || localStorage.getItem("facexp-key") || "";
  if ($("api-key").value) localStorage.setItem("facexp-key", key);
  return key ? { "X-API-Key": key } : {};
}

function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "muted";
}

async function loadModel() {
  const res = await fetch("/v1/model", { headers: headers() });
  if (res.ok) {
    const card = await res.json();
    $("model-name").textContent = `${card.arch} · ${card.classes.join(", ")}`;
  }
}

async function predict(blob) {
  lastBlob = blob;
  setStatus("Reading faces…");
  const form = new FormData();
  form.append("file", blob, "photo.jpg");
  const query = $("gradcam").checked ? "?gradcam=true" : "";
  const res = await fetch("/v1/predict" + query, { method: "POST", body: form, headers: headers() });
  const body = await res.json();
  if (!res.ok) {
    setStatus(body.error ? body.error.message : `error ${res.status}`, true);
    return;
  }
  await draw(blob, body);
  setStatus(body.count ? `${body.count} face(s) found.` : "No face found in this photo.");
}

function draw(blob, body) {
  return new Promise((resolve) => {
    const img = new Image();
    img.onload = () => {
      const canvas = $("canvas");
      canvas.width = body.image.width;
      canvas.height = body.image.height;
      const ctx = canvas.getContext("2d");
      ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
      const line = Math.max(2, Math.round(Math.max(canvas.width, canvas.height) / 300));
      const fontPx = Math.max(14, Math.round(Math.max(canvas.width, canvas.height) / 40));
      ctx.font = `${fontPx}px sans-serif`;
      const list = $("faces");
      list.innerHTML = "";
      body.faces.forEach((face, i) => {
        const [x, y, w, h] = face.box;
        const colour = COLOURS[i % COLOURS.length];
        const text = `${face.label} ${Math.round(face.probs[face.label] * 100)}%`;
        ctx.lineWidth = line;
        ctx.strokeStyle = colour;
        ctx.strokeRect(x, y, w, h);
        const tw = ctx.measureText(text).width + 2 * line;
        const ty = y - fontPx - 2 * line >= 0 ? y - fontPx - 2 * line : y + h;
        ctx.fillStyle = colour;
        ctx.fillRect(x, ty, tw, fontPx + 2 * line);
        ctx.fillStyle = "#fff";
        ctx.fillText(text, x + line, ty + fontPx);
        list.appendChild(faceItem(face, i, colour));
      });
      URL.revokeObjectURL(img.src);
      resolve();
    };
    img.src = URL.createObjectURL(blob);
  });
}

function faceItem(face, i, colour) {
  const li = document.createElement("li");
  li.className = "face";
  const head = document.createElement("div");
  head.className = "face-head";
  head.style.color = colour;
  head.textContent = `Face ${i + 1}: ${face.label}`;
  li.appendChild(head);
  Object.entries(face.probs).sort((a, b) => b[1] - a[1]).forEach(([label, p]) => {
    const row = document.createElement("div");
    row.className = "bar";
    row.innerHTML = `<span></span><div class="track"><div class="fill"></div></div><span></span>`;
    row.children[0].textContent = label;
    row.querySelector(".fill").style.width = `${(p * 100).toFixed(1)}%`;
    row.children[2].textContent = `${(p * 100).toFixed(0)}%`;
    li.appendChild(row);
  });
  if (face.gradcam) {
    const heat = document.createElement("img");
    heat.className = "gradcam";
    heat.alt = `Grad-CAM for face ${i + 1}`;
    heat.src = face.gradcam;
    li.appendChild(heat);
  }
  return li;
}

$("file").addEventListener("change", (e) => { if (e.target.files[0]) predict(e.target.files[0]); });
const drop = $("drop");
["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
["dragleave", "drop"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
drop.addEventListener("drop", (e) => { if (e.dataTransfer.files[0]) predict(e.dataTransfer.files[0]); });
$("gradcam").addEventListener("change", () => { if (lastBlob) predict(lastBlob); });

$("camera-start").addEventListener("click", async () => {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: true });
    $("video").srcObject = stream;
    $("video").hidden = false;
    $("camera-snap").hidden = false;
  } catch (err) {
    setStatus(`Webcam not available: ${err.message}`, true);
  }
});
$("camera-snap").addEventListener("click", () => {
  const video = $("video");
  const canvas = document.createElement("canvas");
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext("2d").drawImage(video, 0, 0);
  canvas.toBlob((blob) => predict(blob), "image/jpeg", 0.92);
});

loadModel();
