// Declaration pages: province → ward picker, answers that show follow-up fields, print button.
// Plain script, no dependencies; the form works without it (server-side wards and checks).
(function () {
  "use strict";

  function wardPicker() {
    var province = document.getElementById("f-province_code");
    var ward = document.getElementById("f-ward_code");
    if (!province || !ward) { return; }
    var english = province.getAttribute("data-lang") === "en";
    province.addEventListener("change", function () {
      var code = province.value;
      while (ward.options.length > 1) { ward.remove(1); }
      ward.value = "";
      if (!code) { return; }
      var url = province.getAttribute("data-wards-url").replace("__code__", encodeURIComponent(code));
      ward.disabled = true;
      fetch(url, { headers: { "Accept": "application/json" } })
        .then(function (response) { return response.ok ? response.json() : { wards: [] }; })
        .then(function (body) {
          if (province.value !== code) { return; }  // the visitor changed province meanwhile
          body.wards.forEach(function (w) {
            ward.add(new Option(english ? w.label_en : w.name, w.code));
          });
        })
        .catch(function () { /* offline: the server lists the wards after the next send */ })
        .then(function () { ward.disabled = false; });
    });
  }

  function currentValue(form, name) {
    var fields = form.querySelectorAll("[name='" + name + "']");
    for (var i = 0; i < fields.length; i++) {
      var f = fields[i];
      if (f.type === "radio" || f.type === "checkbox") {
        if (f.checked) { return f.value; }
      } else {
        return f.value;
      }
    }
    return "";
  }

  function followUps() {
    var blocks = document.querySelectorAll("[data-shown-by]");
    blocks.forEach(function (block) {
      var form = block.closest("form");
      var name = block.getAttribute("data-shown-by");
      var when = block.getAttribute("data-shown-when");
      function update() {
        var shown = currentValue(form, name) === when || block.querySelector(".has-error, .error");
        block.classList.toggle("is-hidden", !shown);
      }
      form.querySelectorAll("[name='" + name + "']").forEach(function (field) {
        field.addEventListener("change", update);
      });
      update();
    });
  }

  function printButtons() {
    document.querySelectorAll("[data-print]").forEach(function (button) {
      button.addEventListener("click", function () { window.print(); });
    });
  }

  // After a failed send: focus goes to the first field to fix; the summary's links focus theirs.
  function errorSummary() {
    var summary = document.getElementById("error-summary");
    if (!summary) { return; }
    function focusField(id) {
      var field = document.getElementById(id);
      if (!field) { return false; }
      var block = field.closest(".item, .field") || field;
      field.focus({ preventScroll: true });
      block.scrollIntoView({ block: "start" });
      return true;
    }
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[href^='#']");
      if (link && focusField(link.getAttribute("href").slice(1))) { event.preventDefault(); }
    });
    var first = summary.querySelector("a[href^='#']");
    if (!first || !focusField(first.getAttribute("href").slice(1))) { summary.focus(); }
  }

  // "I use none of these apps" and an app exclude each other.
  function appChoices() {
    document.querySelectorAll(".app-list").forEach(function (group) {
      group.addEventListener("change", function (event) {
        var box = event.target;
        if (box.name !== "tracing_apps" || !box.checked) { return; }
        group.querySelectorAll("input[name='tracing_apps']").forEach(function (other) {
          if (other !== box && (box.value === "none" || other.value === "none")) { other.checked = false; }
        });
      });
    });
  }

  wardPicker();
  appChoices();
  followUps();
  printButtons();
  errorSummary();
})();
