/* KhaiBao Kiosk — the receptionist's desk: refresh the flagged queue and the on-site list when
   the event stream reports a check-in or check-out. */
(function () {
  "use strict";
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
  var lists = document.getElementById("desk-lists");
  if (!lists || !window.EventSource) {
    return;
  }
  var refreshing = false;
  var again = false;

  function refresh() {
    if (refreshing) {
      again = true;
      return;
    }
    // Never replace the lists under a receptionist who is typing a note.
    if (lists.contains(document.activeElement) && document.activeElement.tagName === "INPUT") {
      setTimeout(refresh, 2000);
      return;
    }
    refreshing = true;
    fetch(lists.dataset.listsUrl, {credentials: "same-origin"})
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html !== null) {
          lists.innerHTML = html;
        }
      })
      .catch(function () { /* the next event tries again */ })
      .then(function () {
        refreshing = false;
        if (again) {
          again = false;
          refresh();
        }
      });
  }

  // The devices and the database as the door's stream reports them, in staff words.
  function updateStatus(message) {
    var status = JSON.parse(message.data);
    var messages = status.messages || {};
    ["camera", "ble", "db"].forEach(function (name) {
      var item = document.querySelector('#device-status [data-device="' + name + '"]');
      if (!item) {
        return;
      }
      item.querySelector(".device-message").textContent = messages[name] || "";
      if (name === "db") {
        item.hidden = !messages.db;
      } else {
        var state = String(status[name]).split(":")[0];
        item.querySelector(".device").className = "device device-" + state;
      }
    });
  }

  var stream = new EventSource(lists.dataset.eventsUrl);
  stream.addEventListener("visit", refresh);
  stream.addEventListener("status", updateStatus);
}());
