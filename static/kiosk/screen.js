/* KhaiBao Kiosk — the door screen: live result cards from the event stream, the touchscreen
   questions (stale declaration, ID card), browser-camera scanning, idle reset. No external code. */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("kiosk-config").textContent);
  var csrfToken = document.querySelector('meta[name="csrf-token"]').content;
  var text = config.text;

  var idle = document.getElementById("idle");
  var card = document.getElementById("card");
  var reconfirm = document.getElementById("reconfirm");
  var health = document.getElementById("health");
  var healthForm = document.getElementById("health-form");

  var cardTimer = null;
  var idleTimer = null;
  var pending = null;          // the open question: {reason, question or ticket, display_name, ...}
  var lastShown = {key: null, at: 0};

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, name) {
      return values[name] === undefined ? "" : values[name];
    });
  }

  function localTime(iso) {
    var when = new Date(iso);
    return when.toLocaleTimeString("vi-VN", {hour: "2-digit", minute: "2-digit",
                                             timeZone: "Asia/Ho_Chi_Minh", hour12: false});
  }

  // --- sound: short tones synthesised with WebAudio (no audio files to fetch) ------------------
  var audio = null;
  function beep(kind) {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var notes = {green: [660, 880], amber: [520, 520], red: [220, 180]}[kind] || [660];
      var start = audio.currentTime;
      notes.forEach(function (frequency, index) {
        var oscillator = audio.createOscillator();
        var gain = audio.createGain();
        oscillator.type = kind === "red" ? "square" : "sine";
        oscillator.frequency.value = frequency;
        gain.gain.setValueAtTime(0.0001, start + index * 0.18);
        gain.gain.exponentialRampToValueAtTime(0.3, start + index * 0.18 + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, start + index * 0.18 + 0.16);
        oscillator.connect(gain).connect(audio.destination);
        oscillator.start(start + index * 0.18);
        oscillator.stop(start + index * 0.18 + 0.17);
      });
    } catch (error) {
      /* no sound device: the colour still tells */
    }
  }

  // --- what is on screen ------------------------------------------------------------------------
  function show(section) {
    [idle, card, reconfirm, health].forEach(function (element) {
      element.hidden = element !== section;
    });
    document.body.dataset.view = section.id;
    touch();
  }

  function backToIdle() {
    pending = null;
    clearTimeout(cardTimer);
    show(idle);
  }

  function showCard(colour, title, name, detail, time) {
    card.className = "kiosk-card card-" + colour;
    card.dataset.colour = colour;
    document.getElementById("card-title").textContent = title;
    document.getElementById("card-name").textContent = name || "";
    document.getElementById("card-detail").textContent = detail || "";
    document.getElementById("card-time").textContent = time || "";
    show(card);
    beep(colour);
    clearTimeout(cardTimer);
    cardTimer = setTimeout(backToIdle, config.card_s * 1000);
  }

  // The same outcome can arrive twice (the API answer and the event stream): show it once.
  function firstTime(key) {
    var now = Date.now();
    if (lastShown.key === key && now - lastShown.at < 4000) {
      return false;
    }
    lastShown = {key: key, at: now};
    return true;
  }

  function showVisit(event) {
    if (event.action === "reviewed") {
      return;  // a decision about someone who has already left: for the desks only
    }
    if (!firstTime(event.action + ":" + event.visit_id + ":" + event.status)) {
      return;
    }
    var time = event.local_time || (event.at ? localTime(event.at) : "");
    if (event.action === "check_out") {
      if (event.status === "turned_away") {
        showCard("red", text.turned_away, event.display_name, "", "");
      } else {
        showCard("green", event.repeated ? text.already_out : text.goodbye, event.display_name,
                 "", fill(text.checked_out_at, {time: time}));
      }
    } else if (event.action === "admitted") {
      showCard("green", text.admitted, event.display_name, "", "");
    } else if (event.status === "needs_review") {
      showCard("amber", text.see_reception, event.display_name, "",
               fill(text.checked_in_at, {time: time}));
    } else {
      showCard("green", event.repeated ? text.already_in : text.welcome, event.display_name,
               event.app_detected ? text.app_detected : "", fill(text.checked_in_at, {time: time}));
    }
  }

  function showRefused(code, message) {
    if (!firstTime("refused:" + code)) {
      return;
    }
    // A database fault refused nothing: the scan was fine but could not be saved.
    var title = config.not_saved_codes.indexOf(code) >= 0 ? text.not_saved : text.not_accepted;
    showCard("red", title, "", message || config.refusals[code] || "", "");
  }

  function ask(question) {
    if (!firstTime("confirm:" + (question.question || question.ticket))) {
      return;
    }
    pending = question;
    clearTimeout(cardTimer);
    if (question.reason === "stale") {
      document.getElementById("reconfirm-title").textContent =
        fill(text.hello, {name: question.display_name});
      document.getElementById("reconfirm-question").textContent =
        fill(text.changed_since, {when: question.declared_local || ""});
      document.getElementById("reconfirm-error").hidden = true;
      show(reconfirm);
      beep("amber");
    } else {
      openHealthForm(question);
    }
  }

  function openHealthForm(question) {
    healthForm.reset();
    clearFieldErrors();
    document.getElementById("travel-places-field").hidden = true;
    // An ID card has no phone number on it: offer to add one (the visitor may skip it).
    document.getElementById("health-phone-field").hidden = question.reason !== "identity";
    document.getElementById("health-title").textContent = text.health_title;
    document.getElementById("health-identity").textContent = question.display_name ?
      (question.reason === "identity" ? fill(text.identity_from_card, {name: question.display_name})
                                       : fill(text.hello, {name: question.display_name})) : "";
    document.getElementById("health-error").hidden = true;
    show(health);
  }

  // --- answers to the touchscreen questions ----------------------------------------------------
  // A question heard on the stream is answered by its id (the stream never carries tickets);
  // one this screen asked itself (browser-camera mode) came with its ticket.
  function answerTo(question, body) {
    if (question.ticket) {
      body.ticket = question.ticket;
    } else {
      body.question = question.question;
    }
    return body;
  }

  function postJSON(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrfToken,
                "Accept": "application/json"},
      body: JSON.stringify(body)
    });
  }

  function handleAnswer(response, errorBox) {
    return response.json().then(function (body) {
      if (response.ok) {
        takeResult(body);
        return;
      }
      if (body.code === "consent_changed" && pending) {
        openHealthForm(pending);
        showError(document.getElementById("health-error"), body.message);
        return;
      }
      if (body.code === "confirmation_expired") {
        showRefused(body.code, body.message);
        return;
      }
      if (errorBox === document.getElementById("health-error") && body.errors) {
        showFieldErrors(body.message, body.errors);
        return;
      }
      var details = Object.keys(body.errors || {}).map(function (field) {
        return body.errors[field];
      });
      showError(errorBox, [body.message].concat(details).join(" "));
    });
  }

  function clearFieldErrors() {
    healthForm.querySelectorAll("[data-error-for]").forEach(function (box) {
      if (box.closest(".kiosk-item")) {
        box.closest(".kiosk-item").classList.remove("has-error");
      } else {
        box.textContent = "";
      }
      box.hidden = true;
    });
    healthForm.querySelectorAll(".has-error").forEach(function (element) {
      element.classList.remove("has-error");
    });
  }

  // Each message beside its question; the first question to fix is scrolled into view.
  function showFieldErrors(message, errors) {
    clearFieldErrors();
    var leftOver = [];
    Object.keys(errors).forEach(function (field) {
      var box = healthForm.querySelector('[data-error-for="' + field + '"]');
      if (!box || box.parentElement.closest("[hidden]")) {
        leftOver.push(errors[field]);
        return;
      }
      box.textContent = errors[field];
      box.hidden = false;
      box.closest("[data-field]").classList.add("has-error");
      if (field === "symptoms" || field === "exposures") {
        healthForm.querySelectorAll('[data-item^="' + field + '."]').forEach(function (item) {
          if (!item.querySelector("input:checked")) {
            item.classList.add("has-error");
            item.querySelector("[data-error-for]").hidden = false;
          }
        });
      }
    });
    var top = document.getElementById("health-error");
    if (leftOver.length) {
      showError(top, [message].concat(leftOver).join(" "));
    } else {
      top.hidden = true;
    }
    var first = healthForm.querySelector(".has-error");
    if (first) {
      first.scrollIntoView({block: "start"});
    }
    touch();
  }

  function eachAnswer(data, name) {
    var answers = {};
    healthForm.querySelectorAll('[data-item^="' + name + '."]').forEach(function (item) {
      var key = item.dataset.item.slice(name.length + 1);
      answers[key] = data.get(name + "." + key);
    });
    return answers;
  }

  function showError(box, message) {
    box.textContent = message;
    box.hidden = false;
    touch();
  }

  reconfirm.addEventListener("click", function (event) {
    var answer = event.target.dataset && event.target.dataset.answer;
    if (!answer || !pending) {
      return;
    }
    if (answer === "cancel") {
      backToIdle();
    } else if (answer === "changed") {
      openHealthForm(pending);
    } else {
      var errorBox = document.getElementById("reconfirm-error");
      postJSON(config.confirm_url, answerTo(pending, {changed: false}))
        .then(function (response) { return handleAnswer(response, errorBox); })
        .catch(function () { showError(errorBox, text.network); });
    }
  });

  health.addEventListener("click", function (event) {
    if (event.target.dataset && event.target.dataset.answer === "cancel") {
      backToIdle();
    }
  });

  healthForm.addEventListener("change", function (event) {
    if (event.target.name === "travel_14d") {
      document.getElementById("travel-places-field").hidden = event.target.value !== "true";
    }
    if (event.target.name === "tracing_apps" && event.target.checked) {
      // "None of these" and an app exclude each other.
      var none = event.target.value === "none";
      healthForm.querySelectorAll('input[name="tracing_apps"]').forEach(function (box) {
        if (box !== event.target && (none || box.value === "none")) { box.checked = false; }
      });
    }
    touch();
  });

  healthForm.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!pending) {
      return;
    }
    var data = new FormData(healthForm);
    var travel = data.get("travel_14d");
    var answers = {
      travel_14d: travel === null ? null : travel === "true",
      travel_places: data.get("travel_places") || null,
      symptoms: eachAnswer(data, "symptoms"),
      exposures: eachAnswer(data, "exposures"),
      tracing_apps: data.getAll("tracing_apps"),
      consent_processing: data.get("consent_processing") === "true",
      consent_sensitive_health: data.get("consent_sensitive_health") === "true",
      consent_text_version: data.get("consent_text_version"),
      phone: data.get("phone") || null,
      lang: config.lang
    };
    var errorBox = document.getElementById("health-error");
    postJSON(config.confirm_url, answerTo(pending, {changed: true, answers: answers}))
      .then(function (response) { return handleAnswer(response, errorBox); })
      .catch(function () { showError(errorBox, text.network); });
  });

  // An exposure notice for the visitor just checked in: an amber card that says where and when,
  // and what to do (never who the case was), shown longer than a greeting.
  function showNotice(notice, name) {
    if (!notice || !firstTime("notice:" + notice.id)) {
      return;
    }
    showCard("amber", notice.title, name, notice.where_when + " " + notice.advice, "");
    card.classList.add("card-notice");
    clearTimeout(cardTimer);
    cardTimer = setTimeout(backToIdle, config.card_s * 3000);
  }

  // An answer from the API (scan or confirmation): the same shapes as the events.
  function takeResult(body) {
    if (body.action === "needs_confirmation") {
      ask(Object.assign({}, body.confirmation));
      return;
    }
    pending = null;
    showVisit({action: body.action, visit_id: body.visit_id, status: body.status,
               display_name: body.visitor.display_name, repeated: body.repeated,
               at: body.at || new Date().toISOString()});
    if (body.notice) {
      showNotice(body.notice, body.visitor.display_name);
    }
  }

  // --- the event stream ------------------------------------------------------------------------
  // The door says only what a visitor can act on: is a camera reading codes, can check-ins be
  // saved. The devices' own words are for the desk.
  var deviceStates = {camera: null, db: "ok"};
  var browserCameraOn = false;

  function cameraLineKey() {
    if (browserCameraOn) {
      return "browser_camera";
    }
    var camera = String(deviceStates.camera || "").split(":")[0];
    if (camera === "ok") {
      return "camera_ok";
    }
    return camera === "starting" ? "starting" : "no_camera";
  }

  function updateDoorLines() {
    var line = document.getElementById("camera-line");
    var key = deviceStates.camera === null ? line.dataset.state : cameraLineKey();
    line.dataset.state = key;
    line.textContent = config.door_lines[key] || "";
    var preview = document.getElementById("camera-preview");
    if (preview) {
      // No empty black box: the preview is there only while the kiosk's camera works.
      var showPreview = key === "camera_ok";
      if (showPreview && preview.hidden) {
        // A camera back at work: a fresh stream (the last one ended when the camera stopped).
        preview.src = preview.dataset.src + "?t=" + Date.now();
      } else if (!showPreview && preview.getAttribute("src")) {
        preview.removeAttribute("src");  // let the server end the stream and free its slot
      }
      preview.hidden = !showPreview;
    }
    document.querySelector(".browser-camera").hidden = key === "camera_ok";
    var db = document.querySelector('[data-device-message="db"]');
    var dbKey = deviceStates.db === "ok" ? "" : (deviceStates.db === "busy" ? "db_wait" : "db_down");
    db.textContent = dbKey ? config.door_lines[dbKey] : "";
    db.hidden = !dbKey;  // only while check-ins cannot be saved
  }

  function updateStatus(status) {
    deviceStates.camera = status.camera;
    deviceStates.db = status.db || "ok";
    updateDoorLines();
  }

  // A stream the server refused (503: as many live screens as it can serve) or lost is not
  // retried by the browser itself: open a new one a few seconds later.
  var stream = null;
  function connect() {
    stream = new EventSource(config.events_url);
    listen(stream);
  }
  function listen(stream) {
    stream.addEventListener("visit", function (message) {
      var event = JSON.parse(message.data);
      if (pending && event.action === "check_in") {
        pending = null;
      }
      showVisit(event);
    });
    stream.addEventListener("notice", function (message) {
      var event = JSON.parse(message.data);
      showNotice(event.notice, event.display_name);
    });
    stream.addEventListener("refused", function (message) {
      var event = JSON.parse(message.data);
      showRefused(event.code);
    });
    stream.addEventListener("confirm", function (message) {
      ask(JSON.parse(message.data));
    });
    stream.addEventListener("status", function (message) {
      updateStatus(JSON.parse(message.data));
    });
    stream.addEventListener("open", function () {
      document.body.dataset.stream = "open";
    });
    stream.addEventListener("error", function () {
      document.body.dataset.stream = "reconnecting";
      if (stream.readyState === EventSource.CLOSED) {
        setTimeout(connect, 5000);
      }
    });
  }
  connect();

  // --- idle reset: questions close, the language goes back to Vietnamese -----------------------
  function touch() {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(onIdle, config.idle_s * 1000);
  }

  function onIdle() {
    if (!card.hidden) {
      touch();
      return;
    }
    if (!idle.hidden && config.lang !== config.default_lang) {
      window.location.assign(config.home_lang_url);
      return;
    }
    backToIdle();
  }

  ["pointerdown", "keydown", "input"].forEach(function (name) {
    document.addEventListener(name, touch, {passive: true});
  });

  // --- browser-camera mode (tablets without a USB camera) --------------------------------------
  var toggle = document.getElementById("browser-camera-toggle");
  var video = document.getElementById("browser-video");
  var cameraError = document.getElementById("browser-camera-error");
  var mediaStream = null;
  var scanTimer = null;
  var canvas = document.createElement("canvas");
  var busy = false;

  function stopBrowserCamera() {
    clearInterval(scanTimer);
    if (mediaStream) {
      mediaStream.getTracks().forEach(function (track) { track.stop(); });
    }
    mediaStream = null;
    video.hidden = true;
    toggle.textContent = toggle.dataset.on;
    document.body.dataset.browserCamera = "off";
    browserCameraOn = false;
    updateDoorLines();
  }

  function scanFrame() {
    if (busy || !mediaStream || video.readyState < 2 || idle.hidden) {
      return;
    }
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    busy = true;
    canvas.toBlob(function (blob) {
      var form = new FormData();
      form.append("venue_code", config.venue_code);
      form.append("image", blob, "frame.jpg");
      fetch(config.scan_url, {method: "POST", credentials: "same-origin", body: form,
                              headers: {"X-CSRFToken": csrfToken, "Accept": "application/json"}})
        .then(function (response) {
          return response.json().then(function (body) {
            if (response.ok) {
              takeResult(body);
            } else if (body.code !== "no_code_found") {
              showRefused(body.code, body.message);
            }
          });
        })
        .catch(function () { /* the next frame tries again */ })
        .then(function () { busy = false; });
    }, "image/jpeg", 0.85);
  }

  toggle.addEventListener("click", function () {
    if (mediaStream) {
      stopBrowserCamera();
      return;
    }
    cameraError.hidden = true;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      showError(cameraError, text.camera_failed);
      return;
    }
    navigator.mediaDevices.getUserMedia({video: {facingMode: "user"}, audio: false})
      .then(function (stream) {
        mediaStream = stream;
        video.srcObject = stream;
        video.hidden = false;
        return video.play();
      })
      .then(function () {
        toggle.textContent = toggle.dataset.off;
        document.body.dataset.browserCamera = "on";
        browserCameraOn = true;
        updateDoorLines();
        scanTimer = setInterval(scanFrame, config.browser_scan_interval_ms);
      })
      .catch(function () {
        stopBrowserCamera();
        showError(cameraError, text.camera_failed);
      });
  });

  show(idle);
}());
