// facexp: run in the browser console on a Google Images results page (scroll first to load more).
// Saves the full-size image URLs, one per line, as urls.txt; rename it to the class, e.g. happy.txt,
// then: facexp collect urls happy.txt --out data/raw
(() => {
  const urls = new Set();
  // Full-size URLs sit in the result links' "imgurl" parameter once a thumbnail has been hovered or opened.
  document.querySelectorAll("a[href*='imgurl=']").forEach((a) => {
    const u = new URL(a.href, location.href).searchParams.get("imgurl");
    if (u) urls.add(u);
  });
  // Otherwise fall back to the original-size URLs embedded in the page data, then to thumbnails.
  const html = document.documentElement.innerHTML;
  for (const m of html.matchAll(/\["(https?:\/\/[^"]+?\.(?:jpe?g|png|webp|gif)[^"]*?)",\d+,\d+\]/gi)) {
    if (!m[1].includes("gstatic.com")) urls.add(JSON.parse(`"${m[1]}"`));
  }
  if (urls.size === 0) document.querySelectorAll("img").forEach((img) => { if (img.src && img.width > 60) urls.add(img.src); });
  const blob = new Blob([[...urls].join("\n") + "\n"], { type: "text/plain" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = "urls.txt";
  document.body.appendChild(a);
  a.click();
  a.remove();
  console.log(`facexp: saved ${urls.size} image URLs to urls.txt`);
})();
