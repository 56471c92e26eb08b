// The live digest preview beside the interests form: the page's own fragment, fetched as the
// reader types. Without JavaScript the "Preview my digest" button posts the form instead.
(function () {
  "use strict";
  var form = document.querySelector("form[data-preview-url]");
  if (!form) return;
  var target = form.querySelector("[data-preview-target]");
  var skipped = { csrfmiddlewaretoken: 1, email: 1, website: 1, action: 1 };
  var timer = null;
  var latest = 0;
  function refresh() {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, name) {
      if (!skipped[name]) params.append(name, value);
    });
    var asked = ++latest;
    fetch(form.dataset.previewUrl + "?" + params.toString(), { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html !== null && asked === latest) target.innerHTML = html;
      })
      .catch(function () {});
  }
  form.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 400);
  });
})();
