// CPU, memory and SoC temperature for telemetry. CPU is the share of all cores used since the
// previous sample, from os.cpus() times.
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';

export interface SystemMetrics {
  cpuPct: number | null;
  loadAvg1: number;
  memUsedPct: number;
  processRssMb: number;
  socTemperatureC: number | null;
}

function cpuTimes(): { idle: number; total: number } {
  let idle = 0;
  let total = 0;
  for (const c of cpus()) {
    idle += c.times.idle;
    total += c.times.user + c.times.nice + c.times.sys + c.times.idle + c.times.irq;
  }
  return { idle, total };
}

export class SystemMetricsSampler {
  readonly #thermalZone: string | undefined;
  #prev = cpuTimes();

  constructor(thermalZone?: string) {
    this.#thermalZone = thermalZone;
  }

  sample(): SystemMetrics {
    const now = cpuTimes();
    const dt = now.total - this.#prev.total;
    const cpuPct = dt > 0 ? Math.round((1 - (now.idle - this.#prev.idle) / dt) * 1000) / 10 : null;
    this.#prev = now;
    return {
      cpuPct,
      loadAvg1: Math.round((loadavg()[0] ?? 0) * 100) / 100,
      memUsedPct: Math.round((1 - freemem() / totalmem()) * 1000) / 10,
      processRssMb: Math.round(process.memoryUsage.rss() / 1048576),
      socTemperatureC: this.#temperature(),
    };
  }

  #temperature(): number | null {
    if (!this.#thermalZone) return null;
    try {
      const milli = Number(readFileSync(this.#thermalZone, 'utf8').trim());
      return Number.isFinite(milli) ? Math.round(milli / 100) / 10 : null;
    } catch {
      return null;
    }
  }
}
