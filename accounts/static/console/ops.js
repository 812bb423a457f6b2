// The control room's two charts (admin/ops.html): data from the page's json_script blocks, no inline script (CSP).
(function () {
  var hours = JSON.parse(document.getElementById("ops-hours-data").textContent);
  var days = JSON.parse(document.getElementById("ops-days-data").textContent);
  var opts = {animation: false, responsive: true, maintainAspectRatio: false, scales: {y: {beginAtZero: true}}};
  new Chart(document.getElementById("ops-hours"), {type: "bar", data: {labels: hours.labels, datasets: [
    {label: "requests", data: hours.requests, backgroundColor: "#417690"},
    {label: "errors", data: hours.errors, backgroundColor: "#cf222e"}]}, options: opts});
  new Chart(document.getElementById("ops-days"), {type: "line", data: {labels: days.labels, datasets: [
    {label: "spend", data: days.spend.map(Number), borderColor: "#79aec8", fill: false}]}, options: opts});
})();
