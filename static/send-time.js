// The sign-up form's time zone, pre-selected from the browser's own (Intl). Without
// JavaScript the select keeps its default (UTC) and works the same.
(function () {
  var select = document.querySelector("select[data-browser-time-zone]");
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (error) {
    return;
  }
  if (!select || !zone) return;
  for (var i = 0; i < select.options.length; i++) {
    if (select.options[i].value === zone) {
      select.value = zone;
      return;
    }
  }
})();
