// Dashboard charts (Chart.js): requests and spend per day for the last 30 days, stacked by model.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("chart-data").textContent);
  const palette = ["#4f46e5", "#0e9384", "#d97706", "#db2777", "#2563eb", "#65a30d", "#9333ea", "#dc2626"];
  const labels = data.labels.map((day) => day.slice(5)); // MM-DD
  const css = getComputedStyle(document.documentElement);
  Chart.defaults.font.family = css.getPropertyValue("--font").trim() || "system-ui";
  Chart.defaults.color = "#57606a";

  function draw(id, key, money) {
    const datasets = data.models.map((m, i) => ({
      label: m.model,
      data: m[key].map(Number),
      backgroundColor: palette[i % palette.length],
      borderRadius: 3,
      maxBarThickness: 22,
    }));
    if (!datasets.length) datasets.push({ label: "—", data: labels.map(() => 0), backgroundColor: "#d0d7de" });
    new Chart(document.getElementById(id), {
      type: "bar",
      data: { labels: labels, datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
        scales: {
          x: { stacked: true, grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 12 } },
          y: {
            stacked: true, beginAtZero: true,
            ticks: money ? { callback: (v) => Number(v).toLocaleString(undefined, { maximumSignificantDigits: 3 }) }
                         : { precision: 0 },
          },
        },
      },
    });
  }
  draw("chart-requests", "requests", false);
  draw("chart-spend", "spend", true);
})();
