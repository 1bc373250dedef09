/* KhaiBao Kiosk — the receptionist's desk: refresh the flagged queue and the on-site list when
   the event stream reports a check-in or check-out. */
(function () {
  "use strict";
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

  var stream = new EventSource(lists.dataset.eventsUrl);
  stream.addEventListener("visit", refresh);
}());
