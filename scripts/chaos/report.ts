/**
 * What a chaos run tells people: a summary (summary.txt, also printed) and one
 * self-contained HTML page (report.html: no scripts, no external files) with the
 * checkers' verdicts and an inline SVG timeline — fault windows as bands, every
 * operation as a dot at its invoke time and latency, coloured by outcome.
 */
import type { CheckResult } from './checkers.js';
import type { History, NemesisRecord, OpRecord } from './history.js';

export interface RunFacts {
  seed: number;
  replay: string;
  nodes: number;
  replicationFactor: number;
  nemeses: string[];
  workloads: string[];
  /** Wall clock of the start of the fault window, and its planned end. */
  startMs: number;
  endMs: number;
  /** Things to know about how the run went (tbf instead of netem, hints left …). */
  remarks: string[];
  /** Set when the run itself broke (a node would not start …) rather than a checker failing. */
  crash?: string;
}

export function passed(results: readonly CheckResult[], facts: RunFacts): boolean {
  return facts.crash === undefined && results.every((result) => result.valid);
}

function outcomeCounts(ops: readonly OpRecord[]): string {
  const count = (outcome: string) => ops.filter((op) => op.outcome === outcome).length;
  return `${ops.length} operations: ${count('ok')} ok, ${count('fail')} failed, ${count('unknown')} unknown`;
}

function percentile(sorted: readonly number[], fraction: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))];
}

function faultLines(nemesis: readonly NemesisRecord[], startMs: number): string[] {
  return nemesis.map((record) => {
    const at = ((record.atMs - startMs) / 1000).toFixed(1).padStart(6);
    return `${at} s  ${record.phase.padEnd(5)} ${record.description}${record.error === undefined ? '' : `  FAILED: ${record.error}`}`;
  });
}

export function summaryText(history: History, results: readonly CheckResult[], facts: RunFacts): string {
  const ok = passed(results, facts);
  const latencies = history.ops.filter((op) => op.outcome === 'ok').map((op) => op.completeMs - op.invokeMs).sort((a, b) => a - b);
  const lines = [
    `sibyl chaos run, seed ${facts.seed}: ${ok ? 'PASSED' : 'FAILED'}`,
    `${facts.nodes} nodes, RF ${facts.replicationFactor}; nemeses ${facts.nemeses.join(', ') || 'none'}; workloads ${facts.workloads.join(', ')}`,
    `${outcomeCounts(history.ops)}; ok latency p50 ${percentile(latencies, 0.5).toFixed(1)} ms, p99 ${percentile(latencies, 0.99).toFixed(1)} ms`,
    '',
    'Faults:',
    ...(history.nemesis.length === 0 ? ['  none'] : faultLines(history.nemesis, facts.startMs).map((line) => `  ${line}`)),
    '',
    'Checkers:',
  ];
  for (const result of results) {
    const stats = Object.entries(result.stats).map(([name, value]) => `${name}=${value}`).join(' ');
    lines.push(`  ${result.checker.padEnd(12)} ${result.valid ? 'ok' : `VIOLATED (${result.violationCount})`}  ${stats}`);
    for (const violation of result.violations) lines.push(`    - [${violation.kind}] ${violation.message}`);
    if (result.violationCount > result.violations.length) lines.push(`    … and ${result.violationCount - result.violations.length} more`);
    for (const note of result.notes) lines.push(`    note: ${note}`);
  }
  if (facts.crash !== undefined) lines.push('', `The run itself failed: ${facts.crash}`);
  if (facts.remarks.length > 0) lines.push('', 'Remarks:', ...facts.remarks.map((remark) => `  ${remark}`));
  lines.push('', `Replay: ${facts.replay}`);
  return `${lines.join('\n')}\n`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const WIDTH = 1100;
const HEIGHT = 320;
const MARGIN = { left: 60, right: 20, top: 20, bottom: 40 };
const COLORS: Record<string, string> = { ok: '#2e7d32', fail: '#ef6c00', unknown: '#c62828' };
const FAULT_COLORS: Record<string, string> = { partition: '#90caf9', kill: '#ef9a9a', pause: '#ce93d8', skew: '#ffe082', slow: '#a5d6a7' };

/** Fault bands: each start paired with the next stop or heal of the same window and kind. */
function faultBands(nemesis: readonly NemesisRecord[], endMs: number): { kind: string; fromMs: number; toMs: number; label: string }[] {
  const bands: { kind: string; fromMs: number; toMs: number; label: string }[] = [];
  for (const [i, record] of nemesis.entries()) {
    if (record.phase !== 'start') continue;
    const end = nemesis.slice(i + 1).find((other) => other.phase !== 'start' && other.kind === record.kind && (other.window === record.window || other.window === -1));
    bands.push({ kind: record.kind, fromMs: record.atMs, toMs: end?.atMs ?? endMs, label: record.description });
  }
  return bands;
}

function timelineSvg(history: History, facts: RunFacts): string {
  const lastMs = Math.max(facts.endMs, ...history.ops.map((op) => op.completeMs), ...history.nemesis.map((record) => record.atMs));
  const spanMs = Math.max(1, lastMs - facts.startMs);
  const latencyMax = Math.max(10, ...history.ops.map((op) => op.completeMs - op.invokeMs));
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (ms: number) => MARGIN.left + ((ms - facts.startMs) / spanMs) * plotWidth;
  // Latencies on a log scale: 1 ms at the bottom, the slowest at the top.
  const y = (latencyMs: number) => MARGIN.top + plotHeight * (1 - Math.log10(Math.max(1, latencyMs)) / Math.log10(latencyMax));
  const parts: string[] = [];
  const kinds = [...new Set(faultBands(history.nemesis, lastMs).map((band) => band.kind))];
  for (const band of faultBands(history.nemesis, lastMs)) {
    const row = kinds.indexOf(band.kind);
    const rowHeight = plotHeight / Math.max(1, kinds.length);
    parts.push(
      `<rect x="${x(band.fromMs).toFixed(1)}" y="${(MARGIN.top + row * rowHeight).toFixed(1)}" width="${Math.max(1, x(band.toMs) - x(band.fromMs)).toFixed(1)}" ` +
        `height="${rowHeight.toFixed(1)}" fill="${FAULT_COLORS[band.kind] ?? '#ddd'}" opacity="0.5"><title>${escapeHtml(band.label)}</title></rect>`,
    );
  }
  for (const op of history.ops) {
    parts.push(
      `<circle cx="${x(op.invokeMs).toFixed(1)}" cy="${y(op.completeMs - op.invokeMs).toFixed(1)}" r="1.6" fill="${COLORS[op.outcome]}">` +
        `<title>op ${op.id} ${op.workload} ${op.f} ${op.key} on ${op.node}: ${op.outcome} in ${(op.completeMs - op.invokeMs).toFixed(1)} ms${op.error ? ` (${escapeHtml(op.error)})` : ''}</title></circle>`,
    );
  }
  for (let second = 0; second <= spanMs / 1000; second += 5) {
    const at = x(facts.startMs + second * 1000).toFixed(1);
    parts.push(`<line x1="${at}" x2="${at}" y1="${HEIGHT - MARGIN.bottom}" y2="${HEIGHT - MARGIN.bottom + 4}" stroke="#333"/>`);
    parts.push(`<text x="${at}" y="${HEIGHT - MARGIN.bottom + 16}" font-size="10" text-anchor="middle">${second}s</text>`);
  }
  for (let latency = 1; latency <= latencyMax; latency *= 10) {
    const at = y(latency).toFixed(1);
    parts.push(`<line x1="${MARGIN.left - 4}" x2="${WIDTH - MARGIN.right}" y1="${at}" y2="${at}" stroke="#eee"/>`);
    parts.push(`<text x="${MARGIN.left - 6}" y="${at}" font-size="10" text-anchor="end" dominant-baseline="middle">${latency} ms</text>`);
  }
  parts.push(`<text x="${MARGIN.left + plotWidth / 2}" y="${HEIGHT - 6}" font-size="11" text-anchor="middle">time since the fault window opened (operation invoke); vertical: latency, log scale</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}">${parts.join('')}</svg>`;
}

export function reportHtml(history: History, results: readonly CheckResult[], facts: RunFacts): string {
  const ok = passed(results, facts);
  const legend = [
    ...Object.entries(COLORS).map(([outcome, color]) => `<span><i style="background:${color};border-radius:50%"></i>${outcome}</span>`),
    ...Object.entries(FAULT_COLORS).map(([kind, color]) => `<span><i style="background:${color}"></i>${kind}</span>`),
  ].join(' ');
  const checkerRows = results
    .map(
      (result) =>
        `<tr><td>${result.checker}</td><td class="${result.valid ? 'ok' : 'bad'}">${result.valid ? 'ok' : `violated (${result.violationCount})`}</td>` +
        `<td>${escapeHtml(Object.entries(result.stats).map(([name, value]) => `${name}=${value}`).join(' '))}</td></tr>` +
        result.violations.map((violation) => `<tr><td></td><td colspan="2" class="bad">[${escapeHtml(violation.kind)}] ${escapeHtml(violation.message)}</td></tr>`).join('') +
        result.notes.map((note) => `<tr><td></td><td colspan="2">note: ${escapeHtml(note)}</td></tr>`).join(''),
    )
    .join('');
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>sibyl chaos, seed ${facts.seed}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
.ok{color:#2e7d32;font-weight:bold}.bad{color:#c62828}
.legend span{margin-right:1em}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
pre{background:#f6f6f6;padding:1em;overflow:auto}
</style></head><body>
<h1>sibyl chaos run, seed ${facts.seed}: <span class="${ok ? 'ok' : 'bad'}">${ok ? 'passed' : 'FAILED'}</span></h1>
<p>${facts.nodes} nodes, RF ${facts.replicationFactor}; nemeses ${escapeHtml(facts.nemeses.join(', ') || 'none')}; workloads ${escapeHtml(facts.workloads.join(', '))}. ${escapeHtml(outcomeCounts(history.ops))}.</p>
<p>Replay: <code>${escapeHtml(facts.replay)}</code></p>
${facts.crash === undefined ? '' : `<p class="bad">The run itself failed: ${escapeHtml(facts.crash)}</p>`}
<h2>Timeline</h2>
<div class="legend">${legend}</div>
${timelineSvg(history, facts)}
<h2>Checkers</h2>
<table><tr><th>Checker</th><th>Verdict</th><th>Counts</th></tr>${checkerRows}</table>
<h2>Faults</h2>
<pre>${escapeHtml(faultLines(history.nemesis, facts.startMs).join('\n') || 'none')}</pre>
${facts.remarks.length === 0 ? '' : `<h2>Remarks</h2><ul>${facts.remarks.map((remark) => `<li>${escapeHtml(remark)}</li>`).join('')}</ul>`}
</body></html>
`;
}
