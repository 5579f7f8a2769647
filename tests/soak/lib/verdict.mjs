// Turns the run's measurements into checks (name, pass, detail) and prints them.

const MiB = 1024 * 1024;
export const RSS_GROWTH_FACTOR = 1.2;
// Absolute slack on the RSS check: two full default send queues (--max-buffered 4 MiB), the
// largest memory a never-reading client may legitimately pin for a moment.
export const RSS_SLACK_BYTES = 8 * MiB;
export const FD_TOLERANCE = 2;
const MIN_RSS_SAMPLES = 4;

export const mib = (bytes) => (bytes / MiB).toFixed(1);

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * RSS after warm-up stays flat: the samples taken after `warmupSec` are split in two halves;
 * the largest of the second half must stay within 1.2 × the median of the first half + slack.
 */
export function rssCheck(samples, warmupSec) {
  const after = samples.filter((s) => s.t >= warmupSec && s.rss !== null).map((s) => s.rss);
  if (after.length < MIN_RSS_SAMPLES) {
    return { name: 'RSS flat after warm-up', pass: true, skipped: true,
      detail: `skipped: only ${after.length} samples after the ${warmupSec} s warm-up` };
  }
  const half = after.length >> 1;
  const firstMedian = median(after.slice(0, half));
  const secondMax = Math.max(...after.slice(half));
  const limit = RSS_GROWTH_FACTOR * firstMedian + RSS_SLACK_BYTES;
  return {
    name: 'RSS flat after warm-up',
    pass: secondMax <= limit,
    detail: `max of last ${after.length - half} samples ${mib(secondMax)} MiB ≤ ${RSS_GROWTH_FACTOR} × ` +
      `median of first ${half} (${mib(firstMedian)} MiB) + ${mib(RSS_SLACK_BYTES)} MiB = ${mib(limit)} MiB`,
    firstMedian, secondMax, limit,
  };
}

/** All the checks of the run, in the order they are printed. */
export function checks({ crashedDuringLoad, exit, rss, fds, conns, totals, stats, published, misbehaverRows }) {
  const unexpected = misbehaverRows.filter((r) => !r.expected);
  return [
    { name: 'server alive through the load', pass: !crashedDuringLoad,
      detail: crashedDuringLoad ? `exited: ${JSON.stringify(exit)}` : 'yes' },
    { name: 'SIGTERM exits 0', pass: exit?.code === 0,
      detail: `code ${exit?.code}, signal ${exit?.signal}` },
    rss,
    { name: 'open fds back to baseline', pass: fds.final !== null && Math.abs(fds.final - fds.baseline) <= FD_TOLERANCE,
      detail: `baseline ${fds.baseline}, peak ${fds.peak}, after disconnect ${fds.final} (± ${FD_TOLERANCE})` },
    { name: 'connections back to baseline', pass: conns.final === conns.baseline,
      detail: `/healthz connections: baseline ${conns.baseline}, after disconnect ${conns.final}` },
    { name: 'every expected delivery arrived, once, in order',
      pass: totals.missing === 0 && totals.duplicates === 0 && totals.outOfOrder === 0,
      detail: `expected ${totals.expected}, delivered ${totals.delivered}, missing ${totals.missing}, ` +
        `duplicates ${totals.duplicates}, out of order ${totals.outOfOrder} (${totals.sessions} room stays)` },
    { name: 'sender sequences unbroken, texts identical for every receiver',
      pass: totals.seqBreaks === 0 && totals.corrupt === 0 && totals.stray === 0,
      detail: `sequence breaks ${totals.seqBreaks}, differing texts ${totals.corrupt}, messages for rooms not joined ${totals.stray}` },
    { name: 'every message sent was accepted and echoed',
      pass: stats.sent === stats.acked && published === stats.acked && stats.total('errors') === 0,
      detail: `sent ${stats.sent}, echoed ${stats.acked}, ids issued ${published}, error replies: ${stats.describe('errors')}` },
    { name: 'well-behaved clients never dropped or stuck',
      pass: stats.total('dropped') === 0 && stats.total('stuck') === 0 && stats.startFailures === 0 &&
        stats.total('retire failures') === 0,
      detail: `dropped: ${stats.describe('dropped')}; stuck: ${stats.describe('stuck')}; ` +
        `start failures: ${stats.describe('start failures')}; retire failures: ${stats.describe('retire failures')}` },
    { name: 'misbehaving clients treated as documented', pass: unexpected.length === 0,
      detail: unexpected.length ? unexpected.map((r) => `${r.kind}: "${r.outcome}" ×${r.count}`).join('; ') : 'yes' },
  ];
}

export function printChecks(list) {
  console.log('\nchecks:');
  for (const c of list) console.log(`  ${c.skipped ? 'SKIP' : c.pass ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail}`);
  const failed = list.filter((c) => !c.pass);
  console.log(failed.length ? `\nsoak: FAILED (${failed.length} of ${list.length} checks)` : `\nsoak: PASSED (${list.length} checks)`);
  return failed.length === 0;
}
