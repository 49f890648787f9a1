// The alarm detail page's telemetry chart: uPlot, fed from the page's json_script (the CSP
// allows no inline script), with the alarm's start and clear drawn as dashed vertical lines.
// Colours come from CSS custom properties, so the chart follows light and dark mode.
(() => {
  const source = document.getElementById("alarm-telemetry");
  const box = document.getElementById("telemetry-chart");
  if (!source || !box || typeof uPlot === "undefined") return;
  const chart = JSON.parse(source.textContent);
  const seconds = (ms) => ms / 1000;
  const data = [
    chart.timestamps.map(seconds),
    ...chart.series.map((series) => series.values),
  ];
  const utc = (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC");
  // Time axis labels, 24-hour and ISO-like: [tick step in seconds, label, then what is added
  // below it when the year, month, day, hour, minute or second changes, 1 = add].
  const day = 86400;
  const timeLabels = [
    [day * 28, "{YYYY}-{MM}", null, null, null, null, null, null, 1],
    [day, "{MM}-{DD}", "\n{YYYY}", null, null, null, null, null, 1],
    [60, "{HH}:{mm}", "\n{YYYY}-{MM}-{DD}", null, "\n{MM}-{DD}", null, null, null, 1],
  ];
  let plot = null;

  function color(name) {
    return getComputedStyle(box).getPropertyValue(name).trim();
  }

  function size() {
    const width = Math.max(200, box.clientWidth);
    return { width, height: Math.round(Math.min(320, Math.max(200, width * 0.55))) };
  }

  function drawMarks(u) {
    const marks = [[chart.alarm_start, "--chart-start"]];
    if (chart.alarm_clear) marks.push([chart.alarm_clear, "--chart-clear"]);
    const { ctx, bbox } = u;
    const ratio = window.devicePixelRatio || 1;
    ctx.save();
    ctx.lineWidth = 2 * ratio;
    ctx.setLineDash([6 * ratio, 4 * ratio]);
    for (const [ts, name] of marks) {
      const x = Math.round(u.valToPos(seconds(ts), "x", true));
      if (x < bbox.left || x > bbox.left + bbox.width) continue;
      ctx.strokeStyle = color(name);
      ctx.beginPath();
      ctx.moveTo(x, bbox.top);
      ctx.lineTo(x, bbox.top + bbox.height);
      ctx.stroke();
    }
    ctx.restore();
  }

  function options() {
    const axis = color("--chart-axis");
    const grid = { stroke: color("--chart-grid"), width: 1 };
    const palette = chart.series.map((_, i) => color(`--chart-${(i % 6) + 1}`));
    // One scale per key: a CO2 level in ppm would otherwise flatten a temperature. The first
    // two keys get an axis each (left, right); the legend gives every value under the cursor.
    const axes = [{ stroke: axis, grid, ticks: grid, values: timeLabels }];
    chart.series.slice(0, 2).forEach((series, i) => {
      axes.push({
        scale: series.key,
        side: i === 0 ? 3 : 1,
        stroke: palette[i],
        grid: i === 0 ? grid : { show: false },
        ticks: grid,
        label: series.key,
        labelSize: 20,
      });
    });
    return {
      ...size(),
      tzDate: utc,
      scales: { x: { time: true, range: () => chart.window.map(seconds) } },
      series: [
        { label: "Time (UTC)", value: "{YYYY}-{MM}-{DD} {HH}:{mm}" },
        ...chart.series.map((series, i) => ({
          label: series.key,
          scale: series.key,
          stroke: palette[i],
          width: 2,
          value: (u, v) => (v == null ? "–" : v.toLocaleString()),
        })),
      ],
      axes,
      hooks: { draw: [drawMarks] },
    };
  }

  function build() {
    if (plot) plot.destroy();
    plot = new uPlot(options(), data, box);
  }

  build();
  new ResizeObserver(() => {
    const wanted = size();
    if (plot && (plot.width !== wanted.width || plot.height !== wanted.height)) {
      plot.setSize(wanted);
    }
  }).observe(box);
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", build);
})();
