// The submission form with an upload progress bar: the form is sent by XMLHttpRequest (the same
// POST, fields and XSRF token as without this script), #upload-progress follows the upload, and
// the browser then goes where the service answered: the submission's page, or the error page
// with the API's sentence. Without JavaScript the form still works, without the bar.
"use strict";
(function () {
  const form = document.getElementById("submit-form");
  const bar = document.getElementById("upload-progress");
  if (!form || !bar) return;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const xhr = new XMLHttpRequest();
    const button = document.getElementById("submit-button");
    button.disabled = true;
    bar.hidden = false;
    xhr.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) return;
      bar.max = e.total;
      bar.value = e.loaded;
      const percent = Math.round((100 * e.loaded) / e.total);
      bar.textContent = percent + "%";
      sessionStorage.setItem("podium-upload-progress", String(percent));
    });
    xhr.addEventListener("load", function () {
      if (xhr.status < 400 && xhr.responseURL) {
        window.location.assign(xhr.responseURL);
        return;
      }
      document.open();
      document.write(xhr.responseText);
      document.close();
    });
    xhr.addEventListener("error", function () {
      button.disabled = false;
      bar.hidden = true;
      form.insertAdjacentHTML("beforeend", '<p class="error" id="upload-error">The upload did not reach Podium; try again.</p>');
    });
    xhr.open("POST", form.action);
    xhr.send(new FormData(form));
  });
})();
