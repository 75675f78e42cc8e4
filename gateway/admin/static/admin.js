// Live previews: re-post a form that has data-preview as the admin types and swap in the
// fragment the server renders (a broadcast's cost, a question's SMS rendering and segment
// counter). Without this script the form's Preview button does the same in one page load.
(function () {
  if (!window.fetch || !window.FormData) return;
  function watch(form) {
    var box = document.getElementById(form.getAttribute("data-target") || "preview");
    if (!box) return;
    var timer = null;
    var sequence = 0;
    function refresh() {
      var mine = ++sequence;
      fetch(form.getAttribute("data-preview"), {
        method: "POST",
        body: new FormData(form),
        headers: { "X-Requested-With": "fetch" },
        credentials: "same-origin",
      })
        .then(function (response) { return response.text(); })
        .then(function (html) { if (mine === sequence) box.innerHTML = html; })
        .catch(function () { /* offline for a moment: the Preview button still works */ });
    }
    form.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(refresh, 400);
    });
  }
  var forms = document.querySelectorAll("form[data-preview]");
  for (var i = 0; i < forms.length; i++) watch(forms[i]);
})();
