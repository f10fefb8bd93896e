/**
 * Progress on stderr: a bar redrawn in place on a terminal, one plain line
 * per finished layer otherwise (logs, pipes, CI).
 * @module
 */
import type { ProgressEvent } from "./analyse.ts";
import { msText } from "./table.ts";

/** Where progress goes. */
export interface ProgressSink {
  write(text: string): void;
  /** True when the sink is a terminal (redraw in place). */
  isTTY: boolean;
  /** Terminal width, if known. */
  columns?: number | undefined;
}

/** A progress callback for {@linkcode analyseModel}, and `end()` to clear the bar. */
export function progressReporter(sink: ProgressSink): { onProgress: (e: ProgressEvent) => void; end: () => void } {
  const t0 = performance.now();
  let drawn = false;
  const bar = (e: ProgressEvent) => {
    const cols = Math.max(40, Math.min(sink.columns || 80, 160));
    const done = e.phase === "done" ? e.index + 1 : e.index;
    const width = 24;
    const fill = Math.round((done / e.total) * width);
    const elapsed = msText(performance.now() - t0);
    const head = `[${"#".repeat(fill)}${"-".repeat(width - fill)}] ${done}/${e.total} ${elapsed} `;
    let name = e.phase === "start" ? e.name : "";
    const room = cols - head.length - 1;
    if (name.length > room) name = room > 1 ? "…" + name.slice(name.length - room + 1) : "";
    sink.write(`\r\x1b[K${head}${name}`);
    drawn = true;
  };
  return {
    onProgress(e) {
      if (sink.isTTY) {
        bar(e);
      } else if (e.phase === "done") {
        sink.write(`convsv: [${e.index + 1}/${e.total}] ${e.name} ${msText(e.timeMs ?? 0)}\n`);
      }
    },
    end() {
      if (drawn) sink.write("\r\x1b[K");
    },
  };
}
