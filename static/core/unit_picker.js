// Admin venue form: province → ward picker. The form works without it (the server lists the
// wards of the chosen province after a send); this only refreshes the wards at once.
(function () {
  "use strict";
  document.querySelectorAll("select[data-wards-url]").forEach(function (province) {
    var ward = document.getElementById(province.getAttribute("data-ward-select"));
    if (!ward) { return; }
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
          if (province.value !== code) { return; }
          body.wards.forEach(function (w) {
            ward.add(new Option(english ? w.label_en : w.name, w.code));
          });
        })
        .catch(function () { /* offline: the server lists the wards after the next send */ })
        .then(function () { ward.disabled = false; });
    });
  });
})();
