// Live broadcast preview: re-post the compose form as the admin types and swap in the
// preview fragment. Without this script the Preview button does the same in one page load.
(function () {
  var form = document.getElementById("compose");
  var box = document.getElementById("preview");
  if (!form || !box || !window.fetch || !window.FormData) return;
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
    timer = setTimeout(refresh, 600);
  });
})();
