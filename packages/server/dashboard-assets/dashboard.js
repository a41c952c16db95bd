// The dashboard's client script: only what the server-rendered pages cannot do alone. It draws
// the cost chart with uPlot, switches the range to "custom" when a date is picked, and runs a
// verification with visible progress. Every page works without it (tables carry the numbers).
(() => {
  const colours = [
    '#0550ae',
    '#bc4c00',
    '#116329',
    '#8250df',
    '#a40e26',
    '#1b7c83',
    '#7d4e00',
    '#cf222e',
    '#57606a',
  ];

  function dollars(cents) {
    return cents === null || cents === undefined
      ? ''
      : `$${(cents / 100).toFixed(cents !== 0 && Math.abs(cents) < 1 ? 6 : 2)}`;
  }

  // uPlot does not stack: each series is drawn as the running sum, biggest first so smaller ones sit on top.
  function drawChart(box) {
    const data = JSON.parse(box.getAttribute('data-series'));
    if (typeof uPlot !== 'function' || data.x.length === 0) return;
    const sums = [];
    let running = data.x.map(() => 0);
    for (const row of data.series) {
      running = running.map((value, index) => value + (row.values[index] ?? 0));
      sums.push(running);
    }
    const order = data.series.map((_, index) => index).reverse();
    const series = [{}].concat(
      order.map((index) => ({
        label: data.series[index].name,
        stroke: colours[index % colours.length],
        fill: `${colours[index % colours.length]}cc`,
        paths: uPlot.paths.bars({ size: [0.8, 64] }),
        value: (_plot, _value, _series, at) => (at === null ? '' : dollars(data.series[index].values[at])),
      })),
    );
    const width = () => Math.max(box.clientWidth, 280);
    const plot = new uPlot(
      {
        width: width(),
        height: 300,
        series,
        axes: [{}, { values: (_plot, ticks) => ticks.map(dollars), size: 90 }],
        scales: { x: { time: true } },
      },
      [data.x].concat(order.map((index) => sums[index])),
      box,
    );
    window.addEventListener('resize', () => plot.setSize({ width: width(), height: 300 }));
  }

  function customRangeOnDatePick(form) {
    const range = form.querySelector('select[name="range"]');
    if (range === null) return;
    for (const input of form.querySelectorAll('input[type="date"]')) {
      input.addEventListener('change', () => {
        range.value = 'custom';
      });
    }
  }

  // Verification can take minutes on a large chain: show that it runs and for how long, then reload.
  function verifyWithProgress(form) {
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const button = form.querySelector('button');
      const progress = form.querySelector('progress');
      const status = form.querySelector('.verify-status');
      const started = Date.now();
      button.disabled = true;
      progress.hidden = false;
      const tick = setInterval(() => {
        status.textContent = `verifying… ${Math.round((Date.now() - started) / 1000)} s`;
      }, 500);
      try {
        const response = await fetch(form.action, {
          method: 'POST',
          headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams(new FormData(form)).toString(),
          credentials: 'same-origin',
        });
        if (!response.ok) throw new Error(`the server answered ${response.status}`);
        const entry = await response.json();
        status.textContent = entry.report.ok
          ? `chain intact: ${entry.report.entries_checked} entries`
          : `broken at seq ${entry.report.first_bad_seq}`;
        window.location.reload();
      } catch (error) {
        status.textContent = `verification failed: ${error.message}`;
      } finally {
        clearInterval(tick);
        progress.hidden = true;
        button.disabled = false;
      }
    });
  }

  document.addEventListener('DOMContentLoaded', () => {
    for (const box of document.querySelectorAll('.chart[data-series]')) drawChart(box);
    for (const form of document.querySelectorAll('form.filters')) customRangeOnDatePick(form);
    for (const form of document.querySelectorAll('form.verify-form')) verifyWithProgress(form);
  });
})();
