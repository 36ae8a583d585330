// Draws the dashboards' charts with the vendored Apache ECharts. The data come from a
// json_script block named by the container's data-chart-source; no inline script, so the strict
// Content-Security-Policy holds. Without JavaScript the table below each chart shows the figures.
(function () {
  "use strict";

  function draw(container) {
    var source = document.getElementById(container.dataset.chartSource);
    if (!source || !window.echarts) {
      return;
    }
    var data = JSON.parse(source.textContent);
    var narrow = container.clientWidth < 500;
    var series = data.series.map(function (serie) {
      return { name: serie.name, type: "bar", data: serie.data, barMaxWidth: 18 };
    });
    series.push({
      name: data.rate.name,
      type: "line",
      yAxisIndex: 1,
      data: data.rate.data,
      connectNulls: false,
      symbolSize: 6,
    });
    var chart = window.echarts.init(container, null, { renderer: "svg" });
    chart.setOption({
      aria: { enabled: true },
      animation: false,
      tooltip: { trigger: "axis" },
      legend: { type: "scroll", top: 0, textStyle: { fontSize: narrow ? 11 : 12 } },
      grid: { left: 8, right: 8, top: 36, bottom: 8, containLabel: true },
      xAxis: {
        type: "category",
        data: data.labels.map(function (label) {
          return narrow ? label.slice(5) : label;
        }),
        axisLabel: { fontSize: narrow ? 10 : 12 },
      },
      yAxis: [
        { type: "value", minInterval: 1 },
        { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } },
      ],
      series: series,
    });
    window.addEventListener("resize", function () {
      chart.resize();
    });
  }

  function start() {
    document.querySelectorAll("[data-chart-source]").forEach(draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
