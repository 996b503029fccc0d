// Progressive enhancement for the approval page, which is complete without it:
// show times in the reader's own time zone and keep the expiry countdown live.
"use strict";

const LOCAL = { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short" };

for (const el of document.querySelectorAll("time[data-local]")) {
  const when = new Date(el.getAttribute("datetime"));
  if (!Number.isNaN(when.getTime())) {
    el.title = el.textContent;
    el.textContent = when.toLocaleString(undefined, LOCAL);
  }
}

function duration(seconds) {
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  if (h) return m ? `${h} h ${m} min` : `${h} h`;
  if (m) return s ? `${m} min ${s} s` : `${m} min`;
  return `${s} s`;
}

// Counted from when the page loaded, so a wrong clock on this computer does not matter.
const loaded = performance.now();
const countdowns = Array.from(document.querySelectorAll("[data-countdown]"), (el) => [el, Number(el.dataset.countdown)]);

function tick() {
  const elapsed = (performance.now() - loaded) / 1000;
  for (const [el, left] of countdowns) {
    const now = Math.max(0, Math.round(left - elapsed));
    el.textContent = now > 0 ? `in ${duration(now)}` : "now (reload to see the outcome)";
  }
}

if (countdowns.length) {
  tick();
  setInterval(tick, 1000);
}
