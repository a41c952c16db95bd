// The dashboard's client script: only what the server-rendered pages cannot do alone. It draws
// the cost chart with uPlot, switches the range to "custom" when a date is picked, and runs a
// verification showing the entries checked so far. Every page works without it (tables carry the numbers).
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

  // Verification can take minutes on a large chain: while it runs, ask the server how many
  // entries it has checked (GET /integrity/progress) and show them; at its end, reload.
  const PROGRESS_POLL_MS = 400;

  function showProgress(form, running) {
    const progress = form.querySelector('progress');
    const status = form.querySelector('.verify-status');
    progress.hidden = false;
    if (running.entries_total > 0) {
      progress.max = running.entries_total;
      progress.value = running.entries_checked;
    } else progress.removeAttribute('value');
    status.textContent = running.text;
  }

  function followProgress(form) {
    const project = form.querySelector('input[name="project"]').value;
    let stopped = false;
    let inFlight = Promise.resolve();
    const poll = async () => {
      if (stopped) return;
      try {
        const response = await fetch(`/integrity/progress?project=${encodeURIComponent(project)}`, {
          headers: { accept: 'application/json' },
          credentials: 'same-origin',
        });
        if (response.ok) {
          const running = await response.json();
          if (stopped) return;
          if (running.running) showProgress(form, running);
          else if (form.hasAttribute('data-running')) {
            // Started elsewhere and now finished: the page shows its result after a reload.
            stopped = true;
            window.location.reload();
            return;
          }
        }
      } catch {
        // A missed poll is retried; the verification itself is not affected.
      }
      setTimeout(() => {
        inFlight = poll();
      }, PROGRESS_POLL_MS);
    };
    inFlight = poll();
    // Stopping waits for a poll already sent, so a reload right after never cuts a request off.
    return () => {
      stopped = true;
      return inFlight;
    };
  }

  function verifyWithProgress(form) {
    if (form.hasAttribute('data-running')) followProgress(form);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const button = form.querySelector('button');
      const progress = form.querySelector('progress');
      const status = form.querySelector('.verify-status');
      button.disabled = true;
      progress.hidden = false;
      progress.removeAttribute('value');
      status.textContent = 'verifying: starting';
      const stop = followProgress(form);
      try {
        const response = await fetch(form.action, {
          method: 'POST',
          headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams(new FormData(form)).toString(),
          credentials: 'same-origin',
        });
        await stop();
        if (!response.ok) throw new Error(`the server answered ${response.status}`);
        const entry = await response.json();
        progress.max = Math.max(entry.report.entries_checked, 1);
        progress.value = entry.report.entries_checked;
        status.textContent = entry.report.ok
          ? `chain intact: ${entry.report.entries_checked} entries`
          : `broken at seq ${entry.report.first_bad_seq}`;
        window.location.reload();
      } catch (error) {
        stop();
        progress.hidden = true;
        status.textContent = `verification failed: ${error.message}`;
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
