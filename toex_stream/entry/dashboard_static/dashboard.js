// toex-stream dashboard: the live queue and the alert page's event texts. No inline code (the CSP forbids it).
"use strict";

function liveQueue(container) {
  var status = document.getElementById("live-status");
  var source = new EventSource("/live");
  var busy = false;
  source.addEventListener("change", function () {
    if (busy) { return; }
    busy = true;
    fetch(container.dataset.live, { credentials: "same-origin" })
      .then(function (answer) { if (!answer.ok) { throw new Error(answer.status); } return answer.text(); })
      .then(function (html) {
        container.innerHTML = html;
        if (status) { status.textContent = "Queue updated at " + new Date().toLocaleTimeString("en-GB"); }
      })
      .catch(function () { if (status) { status.textContent = "Could not update the queue; reload the page."; } })
      .finally(function () { busy = false; });
  });
  source.onerror = function () { if (status) { status.textContent = "Reconnecting to live updates…"; } };
}

function eventTexts() {
  document.querySelectorAll("[data-event-url]").forEach(function (slot) {
    fetch(slot.dataset.eventUrl, { credentials: "same-origin" })
      .then(function (answer) { if (!answer.ok) { throw new Error(answer.status); } return answer.text(); })
      .then(function (html) { slot.innerHTML = html; })
      .catch(function () { /* the link stays: it opens the text on a page of its own */ });
  });
}

document.addEventListener("DOMContentLoaded", function () {
  var queue = document.getElementById("queue");
  if (queue && queue.dataset.live) { liveQueue(queue); }
  eventTexts();
});
